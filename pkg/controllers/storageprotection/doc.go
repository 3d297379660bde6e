// Package storageprotection runs kube-controller-manager's three storage
// protection controllers (upstream's code): the apiserver's
// StorageObjectInUseProtection admission puts a finalizer on every new
// PersistentVolumeClaim, PersistentVolume and VolumeAttributesClass, and
// these remove it once the object is deleted and nothing uses it — a
// claim no pod that still runs mounts, a volume no longer Bound, a class
// no claim or volume names. Until then `ctl delete pvc` leaves the claim
// Terminating rather than pulling the data from under a running pod.
package storageprotection
