// Package kubelet is minik8s' node agent (kubelet-lite): it registers its
// Node, keeps a Lease fresh, and turns the Pods bound to its node into
// containerd containers in CNI network namespaces, with restart back-off,
// probes, graceful termination, logs and exec served over its own HTTP API.
//
// Before a pod's sandbox the worker sets up its volumes (emptyDir, hostPath,
// configMap, secret, downwardAPI, projected, and persistentVolumeClaim bound
// to a hostPath or local volume), writing API data the way the kubelet's
// AtomicWriter does and rewriting it at each resync, so ConfigMap and
// Secret updates reach mounted files; the objects are read with GETs through
// a short-lived cache shared by the node's pods, not watched. Each start of
// a container resolves its env (ConfigMap and Secret keys, envFrom, the
// downward API, $(VAR) expansion) as makeEnvironmentVariables does.
//
// One goroutine per pod (a podWorker) reconciles what the runtime runs with
// what the Pod asks for, level-triggered, and writes what it observed through
// the Pod's status subresource. The runtime is an interface so the worker's
// state machine is tested with a fake; the containerd + CNI implementation is
// tested against the real parts.
package kubelet
