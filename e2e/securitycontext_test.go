//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSecurityContextOnTheLab: a container runs with the capabilities its
// securityContext leaves it (all dropped, one added back) on a read-only
// root file system, and as the user and group it asks for, over the pod's,
// able to write its termination message file (at the default
// terminationMessagePath).
func TestSecurityContextOnTheLab(t *testing.T) {
	ns := namespace(t)
	pod := toolboxPod("secctx", "node1", "", corev1.RestartPolicyNever)
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(5678))}
	caps := &pod.Spec.Containers[0]
	caps.Name = "caps"
	caps.Command = []string{"sh", "-c", "grep -E 'CapEff|NoNewPrivs' /proc/self/status; if touch /x 2>/dev/null; then echo writable; else echo read-only; fi"}
	caps.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(0)), ReadOnlyRootFilesystem: ptr(true), AllowPrivilegeEscalation: ptr(false),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"NET_BIND_SERVICE"}}}
	user := caps.DeepCopy()
	user.Name = "user"
	user.Command = []string{"sh", "-c", "grep NoNewPrivs /proc/self/status; id -u; id -g; echo bye > /dev/termination-log && cat /dev/termination-log"}
	user.SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(1234))}
	pod.Spec.Containers = append(pod.Spec.Containers, *user)
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "secctx", corev1.PodSucceeded, 60*time.Second)
	for _, tt := range []struct{ container, want string }{
		// CAP_NET_BIND_SERVICE is bit 10; no_new_privs only where
		// allowPrivilegeEscalation is false, as the kubelet sets it.
		{"caps", "CapEff:\t0000000000000400\nNoNewPrivs:\t1\nread-only\n"},
		{"user", "NoNewPrivs:\t0\n1234\n5678\nbye\n"},
	} {
		got, err := podLogs(ns, "secctx", tt.container)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("container %s: got output %q, want %q", tt.container, got, tt.want)
		}
	}
}
