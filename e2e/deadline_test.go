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

// TestActiveDeadline: a pod that runs longer than its
// spec.activeDeadlineSeconds is failed by its node's agent with reason
// DeadlineExceeded and its container killed, as the kubelet does; the field
// lowered on a running pod takes effect (the conformance test "Pods should
// allow activeDeadlineSeconds to be updated").
func TestActiveDeadline(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods(ns)

	short := toolboxPod("short", "", "sleep 3600", corev1.RestartPolicyAlways)
	short.Spec.ActiveDeadlineSeconds = ptr(int64(5))
	long := toolboxPod("lowered", "", "sleep 3600", corev1.RestartPolicyAlways)
	long.Spec.ActiveDeadlineSeconds = ptr(int64(3600))
	for _, p := range []*corev1.Pod{short, long} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPodPhase(t, ns, "lowered", corev1.PodRunning, 90*time.Second)
	eventually(t, 30*time.Second, "activeDeadlineSeconds lowered to 5", func() error {
		p, err := pods.Get(ctx, "lowered", metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Spec.ActiveDeadlineSeconds = ptr(int64(5))
		_, err = pods.Update(ctx, p, metav1.UpdateOptions{})
		return err
	})

	for _, name := range []string{"short", "lowered"} {
		eventually(t, 90*time.Second, name+" failed with DeadlineExceeded, its container terminated", func() error {
			p, err := pods.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "DeadlineExceeded" {
				return fmt.Errorf("phase %s, reason %q", p.Status.Phase, p.Status.Reason)
			}
			if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil {
				return fmt.Errorf("container statuses %+v", p.Status.ContainerStatuses)
			}
			return nil
		})
		p, err := pods.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := "Pod was active on the node longer than the specified deadline"; p.Status.Message != want {
			t.Errorf("%s: got message %q, want %q", name, p.Status.Message, want)
		}
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 {
			t.Errorf("%s: got restart count %d, want 0 (killed, not restarted)", name, cs.RestartCount)
		}
	}
}
