package manager

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestStorageInUseProtection: a claim a scheduled pod mounts and a Bound
// volume survive their deletion (Terminating, with the finalizer the
// apiserver put on them) until the pod is gone and the volume Released;
// an unused claim and an Available volume go at once.
func TestStorageInUseProtection(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	startManager(t, srv.Config, PVCProtection, PVProtection)

	claims := client.CoreV1().PersistentVolumeClaims("default")
	for _, name := range []string{"data", "free"} {
		pvc, err := claims.Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pvc.Finalizers, []string{"kubernetes.io/pvc-protection"}) {
			t.Fatalf("claim %s: finalizers %v, want [kubernetes.io/pvc-protection]", name, pvc.Finalizers)
		}
	}
	if _, err := client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "user"},
		Spec: corev1.PodSpec{
			NodeName:   "n1",
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
			Volumes:    []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"data", "free"} {
		if err := claims.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	gone := func(get func(context.Context) error) func(context.Context) bool {
		return func(ctx context.Context) bool { return apierrors.IsNotFound(get(ctx)) }
	}
	claimGone := func(name string) func(context.Context) bool {
		return gone(func(ctx context.Context) error { _, err := claims.Get(ctx, name, metav1.GetOptions{}); return err })
	}
	poll(t, ctx, "the unused claim to go", claimGone("free"))
	// The controller has handled the unused claim; the used one stays.
	pvc, err := claims.Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the claim the pod uses: %v, want it kept", err)
	}
	if pvc.DeletionTimestamp == nil || !slices.Contains(pvc.Finalizers, "kubernetes.io/pvc-protection") {
		t.Fatalf("the claim the pod uses: deletionTimestamp %v, finalizers %v; want Terminating with the protection finalizer", pvc.DeletionTimestamp, pvc.Finalizers)
	}
	if err := client.CoreV1().Pods("default").Delete(ctx, "user", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the claim to go once its pod is gone", claimGone("data"))

	volumes := client.CoreV1().PersistentVolumes()
	for _, name := range []string{"bound", "loose"} {
		pv, err := volumes.Create(ctx, &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeSpec{
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/" + name}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pv.Finalizers, []string{"kubernetes.io/pv-protection"}) {
			t.Fatalf("volume %s: finalizers %v, want [kubernetes.io/pv-protection]", name, pv.Finalizers)
		}
		if name == "bound" {
			pv.Status.Phase = corev1.VolumeBound
			if _, err := volumes.UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := volumes.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	volumeGone := func(name string) func(context.Context) bool {
		return gone(func(ctx context.Context) error { _, err := volumes.Get(ctx, name, metav1.GetOptions{}); return err })
	}
	poll(t, ctx, "the Available volume to go", volumeGone("loose"))
	pv, err := volumes.Get(ctx, "bound", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Bound volume: %v, want it kept", err)
	}
	pv.Status.Phase = corev1.VolumeReleased
	if _, err := volumes.UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the Released volume to go", volumeGone("bound"))
}
