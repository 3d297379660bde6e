package kubelet

import (
	"github.com/containerd/containerd/oci"
)

// privilegedOpts make a container privileged as containerd's CRI plugin
// does for securityContext.privileged with its default
// privileged_without_host_devices=false (pkg/cri/server
// container_create_linux.go): oci.WithPrivileged gives every capability
// the agent holds, unmasks /proc, leaves no read-only paths, mounts /sys
// and the cgroup filesystem writable and drops the seccomp, AppArmor and
// SELinux confinement; WithHostDevices adds the host's /dev nodes and
// WithAllDevicesAllowed opens the devices cgroup to all of them. Without
// the last two a privileged container sees only the default /dev (no
// loop, fuse or disk devices), which is less than the Kubernetes
// contract ("processes in privileged containers are essentially
// equivalent to root on the host").
//
// The options go last among a container's options, so nothing after
// them narrows the device list again.
func privilegedOpts() []oci.SpecOpts {
	return []oci.SpecOpts{oci.WithPrivileged, oci.WithHostDevices, oci.WithAllDevicesAllowed}
}
