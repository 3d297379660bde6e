//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPostStartHook: a container's postStart exec hook runs in it right
// after its start (the container sees the file the hook writes); a hook
// that fails gets the container killed with a FailedPostStartHook event,
// and restarted by its restart policy.
func TestPostStartHook(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pods := cs.CoreV1().Pods(ns)

	good := toolboxPod("hooked", "", "while [ ! -f /tmp/poststart ]; do sleep 0.2; done; echo saw $(cat /tmp/poststart); sleep 3600", corev1.RestartPolicyAlways)
	good.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo hook > /tmp/poststart"}},
	}}
	bad := toolboxPod("badhook", "", "sleep 3600", corev1.RestartPolicyAlways)
	bad.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 3"}},
	}}
	for _, p := range []*corev1.Pod{good, bad} {
		if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 90*time.Second, "the container saw the hook's file", func() error {
		out, err := podLogs(ns, "hooked", "toolbox")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "saw hook") {
			return fmt.Errorf("log %q", out)
		}
		return nil
	})
	eventually(t, 90*time.Second, "FailedPostStartHook and a restart", func() error {
		p, err := pods.Get(ctx, "badhook", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 1 {
			return fmt.Errorf("statuses %+v", p.Status.ContainerStatuses)
		}
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=badhook,reason=FailedPostStartHook"})
		if err != nil {
			return err
		}
		if len(evs.Items) == 0 {
			return fmt.Errorf("no FailedPostStartHook event")
		}
		return nil
	})
}
