// Package localpath is a local-path provisioner built into the
// controller-manager, as k3s ships rancher's local-path-provisioner: the
// StorageClass "local-path" (the default class, WaitForFirstConsumer,
// reclaim policy Delete) is created when the controller starts if it is
// missing, and every claim of a class whose provisioner is ours gets, once
// the scheduler has chosen its node (volume.kubernetes.io/selected-node) and
// the binder has handed it over (volume.kubernetes.io/storage-provisioner),
// a PersistentVolume of type hostPath (DirectoryOrCreate) at
// <root>/<node>/<volume>_<namespace>_<claim>, with a required node affinity
// to that node and the claim's capacity, access modes and volume mode. The
// node is part of the path because the lab's nodes share one filesystem.
//
// When such a volume is Released with reclaim policy Delete, a short-lived
// helper pod on its node (helper-pod-delete-<volume> in kube-system,
// spec.nodeName set, the helper image) runs rm -rf on the volume's
// directory through a hostPath mount of its parent; once the pod has
// Succeeded the volume and the pod are deleted. A helper that Failed, or
// has not finished within HelperTimeout, is deleted and tried again with
// back-off. Paths outside the root are never removed.
package localpath
