//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSysctlsOnTheLab: the safe sysctls a pod asks for are set in its
// container by runc, an IPC one and a network one (in the pod's network
// namespace), a name with slashes too; a pod asking for one off the safe
// list is rejected by the agent (Failed, SysctlForbidden).
func TestSysctlsOnTheLab(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pod := toolboxPod("sysctls", "node1", "", corev1.RestartPolicyNever)
	pod.Spec.Containers[0].Command = []string{"/bin/sysctl", "kernel.shm_rmid_forced", "net.ipv4.ip_unprivileged_port_start"}
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
		{Name: "kernel/shm_rmid_forced", Value: "1"}, {Name: "net.ipv4.ip_unprivileged_port_start", Value: "79"}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "sysctls", corev1.PodSucceeded, 60*time.Second)
	got, err := podLogs(ns, "sysctls", "toolbox")
	if err != nil {
		t.Fatal(err)
	}
	if want := "kernel.shm_rmid_forced = 1\nnet.ipv4.ip_unprivileged_port_start = 79\n"; got != want {
		t.Errorf("got output %q, want %q", got, want)
	}

	unsafe := toolboxPod("unsafe", "node1", "true", corev1.RestartPolicyNever)
	unsafe.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: "kernel.msgmax", Value: "10000000000"}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, unsafe, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPodPhase(t, ns, "unsafe", corev1.PodFailed, 60*time.Second)
	if p.Status.Reason != "SysctlForbidden" {
		t.Errorf("got reason %q (%s), want SysctlForbidden", p.Status.Reason, p.Status.Message)
	}
}

// TestPodObservedGenerationOnTheLab: the agent reports which generation of
// the pod it observed, in the status and its conditions, and follows an
// update of the spec.
func TestPodObservedGenerationOnTheLab(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pod := toolboxPod("gen", "node1", "sleep 3600", corev1.RestartPolicyAlways)
	pod.Generation = 100 // ignored: a new pod is at generation 1
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "gen", corev1.PodRunning, 60*time.Second)
	observed := func(want int64) func() error {
		return func() error {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "gen", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Generation != want || p.Status.ObservedGeneration != want {
				return fmt.Errorf("generation %d, observedGeneration %d", p.Generation, p.Status.ObservedGeneration)
			}
			for _, c := range p.Status.Conditions {
				if c.ObservedGeneration != want {
					return fmt.Errorf("condition %s: observedGeneration %d", c.Type, c.ObservedGeneration)
				}
			}
			return nil
		}
	}
	eventually(t, 20*time.Second, "generation 1 observed", observed(1))
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "gen", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.ActiveDeadlineSeconds = ptr(int64(5000))
	if _, err := cs.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "generation 2 observed", observed(2))
}
