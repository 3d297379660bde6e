// Package scheduler binds pending pods to nodes.
//
// The decision is pure logic over a read-only snapshot of nodes (NodeInfo):
// a chain of small Filter functions (is this node feasible for this pod, and
// if not, why) and Scorer functions (how good is a feasible node), run by
// Algorithm.Schedule. None of it needs a server; the tests build snapshots by
// hand.
//
// Around it sits a thin loop (Scheduler): informers for pods and nodes feed
// an incremental Cache (per-node aggregated requests and host ports, and an
// index of each controller's pods per node for spreading, updated as pods
// are assumed, bound and deleted, never recomputed per decision), a Queue
// hands out pending pods with back-off, and a pool of binders writes the
// pods/binding subresource asynchronously. A pod is assumed on its node the
// moment it is chosen, so the next decision already sees it; a failed bind
// forgets the assumption and requeues the pod; an assumption the informer
// never confirms expires. Events go through a bounded queue that drops,
// and counts, what the API cannot take in time.
//
// PersistentVolumeClaims are upstream's VolumeBinding plugin in small: a pod
// whose claim is missing, being deleted, or unbound in an Immediate class
// fits no node (with upstream's messages); bound volumes' node affinity
// filters nodes (FilterVolumeBinding); a claim of a WaitForFirstConsumer
// class fits nodes where a free volume matches it or its class can
// provision. Before the pod is bound, such claims get their free volume
// (the volume's claimRef, completed by the controller-manager's binder) or
// the volume.kubernetes.io/selected-node annotation (for the provisioner),
// and the binder goroutine waits, at most VolumeBindTimeout, for them all
// to be bound; otherwise the pod is tried again.
//
// Several schedulers may run with RunElected: they compete for a Lease, as
// kube-scheduler's --leader-elect does, and only its holder schedules.
package scheduler
