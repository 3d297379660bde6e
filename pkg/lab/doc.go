// Package lab runs a multi-node minik8s cluster on one Linux machine: a
// bridge and one network namespace per node, the lab's own containerd and
// registry, the control plane in the root namespace and a kubelet-lite per
// node, all kept running by a detached supervisor. It also builds the
// project's images without a Docker daemon and pushes them to the lab
// registry.
package lab
