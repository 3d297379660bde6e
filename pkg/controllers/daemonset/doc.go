// Package daemonset runs one copy of a pod on every eligible node, as
// Kubernetes' DaemonSet controller does: a node is eligible when it passes
// the template's nodeName, nodeSelector, required node affinity and taints
// (with the tolerations every daemon pod gets). Pods are placed by the
// scheduler through a required node affinity on the node's name; the
// controller records each template as a ControllerRevision (the history
// `kubectl rollout history|undo` reads), labels pods with the revision's
// hash, replaces outdated pods by the RollingUpdate (maxUnavailable or
// maxSurge) or OnDelete strategy, deletes pods that failed (with back-off)
// or sit on nodes no longer eligible, and writes status from what it saw.
package daemonset
