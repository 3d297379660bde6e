// Package nodelifecycle watches node heartbeats and evicts pods from dead
// nodes, as Kubernetes does it now.
//
// The lifecycle controller reads each Node's Lease in kube-node-lease and
// its status. When neither has moved for the grace period it sets the
// node's conditions to Unknown ("Kubelet stopped posting node status.") and
// taints it node.kubernetes.io/unreachable (NoSchedule and NoExecute); a
// node whose agent reports Ready=False gets node.kubernetes.io/not-ready.
// Healthy nodes lose those taints.
//
// The taint-eviction controller deletes pods that do not tolerate a node's
// NoExecute taints at once, and tolerating ones after their
// tolerationSeconds. On an unreachable node it force-deletes (grace 0): no
// agent is left to finish a graceful deletion.
package nodelifecycle
