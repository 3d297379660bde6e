// Package kubelet is minik8s' node agent (kubelet-lite): it registers its
// Node, keeps a Lease fresh, and turns the Pods bound to its node into
// containerd containers in CNI network namespaces, with restart back-off,
// probes, graceful termination, logs and exec served over its own HTTP API.
//
// One goroutine per pod (a podWorker) reconciles what the runtime runs with
// what the Pod asks for, level-triggered, and writes what it observed through
// the Pod's status subresource. The runtime is an interface so the worker's
// state machine is tested with a fake; the containerd + CNI implementation is
// tested against the real parts.
package kubelet
