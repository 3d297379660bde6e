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
// Inter-pod affinity and topology spread constraints are upstream's
// InterPodAffinity and PodTopologySpread plugins in small. Each NodeInfo
// keeps its pods' namespace, labels and compiled (anti-)affinity terms;
// once per decision, and only for a pod with such terms or constraints or
// while some pod in the cluster has required anti-affinity (the cache
// counts them), a prefilter counts matching pods per topology domain, and
// FilterInterPodAffinity and FilterTopologySpread read those counts with
// upstream's rules and messages (a pod whose required affinity matches
// only itself may start its group; minDomains, nodeAffinityPolicy,
// nodeTaintsPolicy and matchLabelKeys as upstream). Preferred terms and
// ScheduleAnyway constraints are scores with upstream's normalizing.
// Upstream's system default spreading (for pods without constraints) is
// left to ScoreOwnerCount, which spreads a controller's pods over nodes; a
// pod with constraints of its own is spread by them alone. A non-empty
// namespaceSelector in a term needs namespace labels the scheduler does not
// watch: such a term selects only the namespaces it lists.
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
// Priorities and preemption are upstream's PrioritySort and
// DefaultPreemption. The Queue hands out higher spec.priority first. A pod
// that fits no node runs Preemption (under the cache's lock, like the
// decision): the nodes that pass the filters removal cannot fix are dry
// run without every pod of lower priority, then with as many added back as
// still leave room (PodDisruptionBudget-protected ones first), and the
// node whose victims hurt least by upstream's criteria is chosen. The pod
// is nominated there at once (Cache.Preempt), so later decisions keep its
// room for it against pods of lower priority (the nominator), and it tries
// that node first next time; the binder slot marks and deletes the
// victims and writes status.nominatedNodeName. While its victims
// terminate the pod does not preempt again.
//
// Several schedulers may run with RunElected: they compete for a Lease, as
// kube-scheduler's --leader-elect does, and only its holder schedules.
package scheduler
