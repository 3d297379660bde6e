// Package pvbinder binds PersistentVolumeClaims to PersistentVolumes, as
// kube-controller-manager's persistentvolume-binder does.
//
// A claim without a volume gets the smallest Available volume of its class
// whose access modes, volume mode, capacity and label selector fit (volumes
// with the fewest extra access modes first); a claim naming a volume
// (spec.volumeName) is bound to it if it fits, and a volume whose claimRef
// names a claim is bound to that claim only. Binding writes the volume's
// claimRef, then its phase Bound, then the claim's volumeName and the
// pv.kubernetes.io/bind-completed annotation, then the claim's status
// (phase Bound, capacity and access modes of the volume);
// pv.kubernetes.io/bound-by-controller marks what the binder rather than the
// user chose. Each step is idempotent, so a failed sync resumes where it
// stopped.
//
// Claims without a class (storageClassName unset, not "") get the default
// StorageClass (storageclass.kubernetes.io/is-default-class: "true", the
// newest if there are several) when no volume fits them, as upstream's
// retroactive default class assignment: the apiserver has no
// DefaultStorageClass admission. A claim of a class whose volumeBindingMode
// is WaitForFirstConsumer is left to the scheduler until it sets
// volume.kubernetes.io/selected-node (the claim's events say whether it
// waits for a pod to use it or for its pods to be scheduled); then, or at once for an Immediate
// class, a claim no volume fits is handed to the class's provisioner by the
// volume.kubernetes.io/storage-provisioner annotation (every provisioner is
// external here: the binder itself creates no volumes).
//
// A volume whose claim is gone becomes Released; with reclaim policy Retain
// it stays so, with Delete its provisioner deletes it, with Recycle it
// becomes Failed (no recycler). A claim whose volume is gone, or bound to
// another claim, becomes Lost.
package pvbinder
