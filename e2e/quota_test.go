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

// TestResourceQuotaOnTheLab: `ctl create quota` limits a namespace to one
// pod; once the controller has filled the quota's status, a second
// `ctl run` is refused with upstream's message, and deleting the first
// pod lets the second one in, and run.
func TestResourceQuotaOnTheLab(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	if out, err := ctl("create", "quota", "one-pod", "-n", ns, "--hard=pods=1,count/configmaps=5"); err != nil {
		t.Fatalf("create quota: %v: %s", err, out)
	}
	eventually(t, 20*time.Second, "the controller fills the quota's status", func() error {
		rq, err := cs.CoreV1().ResourceQuotas(ns).Get(ctx, "one-pod", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if _, ok := rq.Status.Used[corev1.ResourcePods]; !ok {
			return fmt.Errorf("status %v", rq.Status)
		}
		return nil
	})
	if out, err := ctl("run", "first", "-n", ns, "--image=minik8s/echo"); err != nil {
		t.Fatalf("run first: %v: %s", err, out)
	}
	out, err := ctl("run", "second", "-n", ns, "--image=minik8s/echo")
	want := `pods "second" is forbidden: exceeded quota: one-pod, requested: pods=1, used: pods=1, limited: pods=1`
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("run second: got %v: %q, want the error %q", err, out, want)
	}
	if out, err := ctl("delete", "pod", "first", "-n", ns, "--grace-period=1"); err != nil {
		t.Fatalf("delete first: %v: %s", err, out)
	}
	eventually(t, 30*time.Second, "second admitted once first is gone", func() error {
		out, err := ctl("run", "second", "-n", ns, "--image=minik8s/echo")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	waitPodPhase(t, ns, "second", corev1.PodRunning, 45*time.Second)
}
