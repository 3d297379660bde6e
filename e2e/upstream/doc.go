// Package upstream runs Kubernetes' own kube-scheduler,
// kube-controller-manager and kube-proxy (nftables mode, in a network
// namespace of its own), built from the Go module proxy at the release
// matching minik8s's k8s.io/* modules, against a minik8s apiserver. It is
// a module of its own so that its dependencies (the whole of
// k8s.io/kubernetes's commands) stay out of minik8s's go.sum.
package upstream
