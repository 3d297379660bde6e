package apiserver

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The finalizers upstream's StorageObjectInUseProtection admission puts on
// every new volume, claim and VolumeAttributesClass; the pv-, pvc- and
// vac-protection controllers remove them once nothing uses the object.
const (
	pvProtectionFinalizer  = "kubernetes.io/pv-protection"
	pvcProtectionFinalizer = "kubernetes.io/pvc-protection"
	vacProtectionFinalizer = "kubernetes.io/vac-protection"
)

// storageObjectInUseProtection is kube-apiserver's
// StorageObjectInUseProtection admission: a claim a pod still uses, a
// volume still bound, or a VolumeAttributesClass still named by one is
// not removed when deleted, only marked, until its protection controller
// sees it unused.
type storageObjectInUseProtection struct{}

var storageProtected = map[schema.GroupResource]string{
	{Resource: "persistentvolumes"}:                                pvProtectionFinalizer,
	{Resource: "persistentvolumeclaims"}:                           pvcProtectionFinalizer,
	{Group: "storage.k8s.io", Resource: "volumeattributesclasses"}: vacProtectionFinalizer,
}

func (storageObjectInUseProtection) handles(gr schema.GroupResource) bool {
	_, ok := storageProtected[gr]
	return ok
}

// admitCreate adds the finalizer on create only, as upstream: objects
// stored before keep what they have.
func (storageObjectInUseProtection) admitCreate(k *call, obj runtime.Object) (func(), error) {
	if k.info != nil && k.info.Subresource != "" {
		return nil, nil
	}
	var finalizers *[]string
	switch o := obj.(type) {
	case *corev1.PersistentVolume:
		finalizers = &o.Finalizers
	case *corev1.PersistentVolumeClaim:
		finalizers = &o.Finalizers
	case *storagev1.VolumeAttributesClass:
		finalizers = &o.Finalizers
	default:
		return nil, nil
	}
	f := storageProtected[k.gr()]
	if !slices.Contains(*finalizers, f) {
		*finalizers = append(*finalizers, f)
	}
	return nil, nil
}
