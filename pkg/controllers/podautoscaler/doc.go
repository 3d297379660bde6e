// Package podautoscaler is the HorizontalPodAutoscaler controller:
// upstream's (k8s.io/kubernetes/pkg/controller/podautoscaler, the
// horizontal-pod-autoscaler of kube-controller-manager) wired to this
// cluster. It reads resource metrics from metrics.k8s.io, which the
// apiserver serves from the agents' cgroup readings, and scales any
// kind with a scale subresource. Custom and external metrics
// (custom.metrics.k8s.io, external.metrics.k8s.io) have no server here:
// an autoscaler that names them reports ScalingActive False with the
// error, as upstream does without an adapter.
package podautoscaler
