// Package disruption is the PodDisruptionBudget controller (upstream's
// disruption-controller): it keeps each budget's status — expected pods,
// currently and desired healthy pods, the disruptions allowed, the
// DisruptionAllowed condition — from the pods its selector matches and
// the scale of their controllers, so that the apiserver's pods/eviction can
// take disruptions from it. It also forgets evictions the apiserver recorded
// in status.disruptedPods whose pods were not deleted within two minutes,
// and resets a pod's DisruptionTarget condition that no deletion followed.
package disruption
