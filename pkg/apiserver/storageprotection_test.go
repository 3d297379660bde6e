package apiserver_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestStorageObjectInUseProtection: new claims, volumes and
// VolumeAttributesClasses get their protection finalizer once, beside
// the finalizers they came with; updates add none.
func TestStorageObjectInUseProtection(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pvc, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "c", Finalizers: []string{"example.com/keep", "kubernetes.io/pvc-protection"}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"example.com/keep", "kubernetes.io/pvc-protection"}; !slices.Equal(pvc.Finalizers, want) {
		t.Errorf("claim: got finalizers %v, want %v", pvc.Finalizers, want)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "v"},
		Spec: corev1.PersistentVolumeSpec{
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp/v"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kubernetes.io/pv-protection"}; !slices.Equal(pv.Finalizers, want) {
		t.Errorf("volume: got finalizers %v, want %v", pv.Finalizers, want)
	}
	// An update that drops the finalizer keeps it dropped: the admission
	// adds it on create only, as upstream's.
	pv.Finalizers = nil
	if pv, err = cs.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(pv.Finalizers) != 0 {
		t.Errorf("volume after an update without finalizers: got %v, want none", pv.Finalizers)
	}
	vac, err := cs.StorageV1().VolumeAttributesClasses().Create(ctx, &storagev1.VolumeAttributesClass{
		ObjectMeta: metav1.ObjectMeta{Name: "fast"}, DriverName: "example.com/csi", Parameters: map[string]string{"iops": "1000"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kubernetes.io/vac-protection"}; !slices.Equal(vac.Finalizers, want) {
		t.Errorf("VolumeAttributesClass: got finalizers %v, want %v", vac.Finalizers, want)
	}
}
