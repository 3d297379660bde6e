package kubelet

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/node/util/sysctl"
)

// A pod's spec.securityContext.sysctls, as the kubelet handles them: the
// sysctl admission handler (pkg/kubelet/sysctl) rejects a pod asking for a
// sysctl the node does not allow, and the runtime sets the others in the
// pod's namespaces. The agent has no --allowed-unsafe-sysctls: only the
// safe set is allowed.

// sysctlForbiddenReason is the status reason of a pod rejected for its
// sysctls, as the kubelet's.
const sysctlForbiddenReason = "SysctlForbidden"

// safeSysctls is the kubelet's SafeSysctlAllowlist: sysctls namespaced by
// the kernel, that a pod cannot use to harm its node or other pods.
// Upstream leaves out those the node's kernel does not namespace yet;
// every kernel the agent runs on (≥ 5.x) namespaces them all.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
	"net.ipv4.tcp_rmem":                   true,
	"net.ipv4.tcp_wmem":                   true,
	"net.ipv4.tcp_slow_start_after_idle":  true,
	"net.ipv4.tcp_notsent_lowat":          true,
}

// podSysctls are the pod's sysctls by their dotted names (a name may use
// '/' as separator: kernel/shm_rmid_forced), as the kubelet hands them to
// the runtime (ConvertPodSysctlsVariableToDotsSeparator); nil for none.
func podSysctls(pod *v1.Pod) map[string]string {
	sc := pod.Spec.SecurityContext
	if sc == nil || len(sc.Sysctls) == 0 {
		return nil
	}
	out := make(map[string]string, len(sc.Sysctls))
	for _, s := range sc.Sysctls {
		out[sysctl.NormalizeName(s.Name)] = s.Value
	}
	return out
}

// forbiddenSysctl is why the kubelet's sysctl admission handler rejects
// pod, "" when it does not: the first sysctl not on the allowlist, and
// those of a namespace the pod shares with the node (the API rejects
// those already; the kubelet checks again).
func forbiddenSysctl(pod *v1.Pod) string {
	sc := pod.Spec.SecurityContext
	if sc == nil {
		return ""
	}
	for _, s := range sc.Sysctls {
		name := sysctl.NormalizeName(s.Name)
		if !safeSysctls[name] {
			return fmt.Sprintf("forbidden sysctl: %q not allowlisted", name)
		}
		ns, _, _ := sysctl.GetNamespace(name)
		if (ns == sysctl.NetNamespace && pod.Spec.HostNetwork) || (ns == sysctl.IPCNamespace && pod.Spec.HostIPC) {
			return fmt.Sprintf("forbidden sysctl: %q not allowed with host %s enabled", name, ns)
		}
	}
	return ""
}
