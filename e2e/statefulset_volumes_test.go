//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStatefulSetVolumes: a StatefulSet's claims come from the default
// StorageClass (the local-path provisioner), bind through the scheduler
// and the PersistentVolume binder, and are mounted by the agents; a pod
// deleted comes back with its data.
func TestStatefulSetVolumes(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Services(ns).Create(ctx, headlessService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Each start appends the pod's hostname to its volume.
	set := statefulSet("web", 3, "hostname >> /data/hostnames")
	set.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSetReady(t, ns, "web", 3, 60*time.Second)

	for i := 0; i < 3; i++ {
		claim, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-web-%d", i), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if claim.Status.Phase != corev1.ClaimBound {
			t.Errorf("claim %s is %s, want Bound", claim.Name, claim.Status.Phase)
		}
	}
	hostnames := func(pod string) string {
		t.Helper()
		out, err := podExec(ns, pod, "toolbox", "cat", "/data/hostnames")
		if err != nil {
			t.Fatalf("reading /data/hostnames in %s: %v", pod, err)
		}
		return out
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		if got := hostnames(name); got != name+"\n" {
			t.Errorf("/data/hostnames in %s: got %q, want %q", name, got, name+"\n")
		}
	}

	// web-1 deleted comes back on the same claim, its data still there.
	old, err := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 45*time.Second, "web-1 back and Ready", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID == old.UID || !isReady(p) {
			return fmt.Errorf("web-1 not re-created and Ready yet")
		}
		return nil
	})
	if got := hostnames("web-1"); got != "web-1\nweb-1\n" {
		t.Errorf("/data/hostnames in the new web-1: got %q, want the old line and a new one", strings.TrimSpace(got))
	}
}
