package storageprotection

import (
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/volume/pvcprotection"
	"k8s.io/kubernetes/pkg/controller/volume/pvprotection"
	"k8s.io/kubernetes/pkg/controller/volume/vacprotection"
)

// NewClaims is the pvc-protection controller: a deleted claim keeps its
// finalizer while a pod that is not finished uses it.
func NewClaims(cs kubernetes.Interface, factory informers.SharedInformerFactory) (*pvcprotection.Controller, error) {
	return pvcprotection.NewPVCProtectionController(klog.Background(), factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().Pods(), cs)
}

// NewVolumes is the pv-protection controller: a deleted volume keeps its
// finalizer while it is Bound.
func NewVolumes(cs kubernetes.Interface, factory informers.SharedInformerFactory) (*pvprotection.Controller, error) {
	return pvprotection.NewPVProtectionController(klog.Background(), factory.Core().V1().PersistentVolumes(), cs)
}

// NewAttributesClasses is the volumeattributesclass-protection controller:
// a deleted VolumeAttributesClass keeps its finalizer while a claim or a
// volume names it.
func NewAttributesClasses(cs kubernetes.Interface, factory informers.SharedInformerFactory) (*vacprotection.Controller, error) {
	return vacprotection.NewVACProtectionController(klog.Background(), cs, factory.Core().V1().PersistentVolumeClaims(), factory.Core().V1().PersistentVolumes(), factory.Storage().V1().VolumeAttributesClasses())
}
