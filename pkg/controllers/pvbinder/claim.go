package pvbinder

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// Event reasons, as upstream's pkg/controller/volume/events.
const (
	EventFailedBinding        = "FailedBinding"
	EventWaitForFirstConsumer = "WaitForFirstConsumer"
	EventWaitForPodScheduled  = "WaitForPodScheduled"
	EventExternalProvisioning = "ExternalProvisioning"
	EventProvisioningFailed   = "ProvisioningFailed"
	EventVolumeMismatch       = "VolumeMismatch"
	EventClaimLost            = "ClaimLost"
	EventClaimMisbound        = "ClaimMisbound"
	EventVolumeFailedRecycle  = "VolumeFailedRecycle"
)

// Annotations a class carries to be the default one.
const (
	AnnDefaultClass     = "storageclass.kubernetes.io/is-default-class"
	AnnBetaDefaultClass = "storageclass.beta.kubernetes.io/is-default-class"
)

func (c *Controller) syncClaimKey(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	claim, err := c.claim(ns, name)
	if apierrors.IsNotFound(err) {
		c.forget(claimPrefix + key)
		return nil
	}
	if err != nil {
		return err
	}
	return c.syncClaim(ctx, claim)
}

func (c *Controller) syncClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return c.syncUnboundClaim(ctx, claim)
	}
	return c.syncBoundClaim(ctx, claim)
}

func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" {
		return c.syncPreboundClaim(ctx, claim)
	}
	delayBinding, err := storagehelpers.IsDelayBindingMode(claim, c.classes)
	if err != nil {
		return err
	}
	pvs, err := c.volumes()
	if err != nil {
		return err
	}
	pv, err := FindBestMatch(claim, pvs, delayBinding)
	if err != nil {
		return fmt.Errorf("finding a volume for claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	if pv != nil {
		return c.bind(ctx, pv, claim)
	}
	// Retroactive default class: the claim is updated, and its update
	// brings it back here with the class set.
	if updated, err := c.assignDefaultClass(ctx, claim); err != nil || updated {
		return err
	}
	switch {
	case delayBinding && !storagehelpers.IsDelayBindingProvisioning(claim):
		c.waitingForConsumer(claim)
	case storagehelpers.GetPersistentVolumeClaimClass(claim) != "":
		// The provisioner's volume arrives with a claimRef to this claim
		// and is bound by a later sync.
		return c.provision(ctx, claim)
	default:
		c.recorder.Event(claim, corev1.EventTypeNormal, EventFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// waitingForConsumer says what a delayed claim waits for: a pod using it,
// or the scheduling of the pods that do.
func (c *Controller) waitingForConsumer(claim *corev1.PersistentVolumeClaim) {
	var names []string
	pods, _ := c.pods.Pods(claim.Namespace).List(labelsEverything)
	for _, pod := range pods {
		if pod.Spec.NodeName != "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim.Name {
				names = append(names, pod.Name)
				break
			}
		}
	}
	sort.Strings(names)
	switch len(names) {
	case 0:
		c.recorder.Event(claim, corev1.EventTypeNormal, EventWaitForFirstConsumer, "waiting for first consumer to be created before binding")
	case 1:
		c.recorder.Event(claim, corev1.EventTypeNormal, EventWaitForPodScheduled, fmt.Sprintf("waiting for pod %s to be scheduled", names[0]))
	default:
		c.recorder.Event(claim, corev1.EventTypeNormal, EventWaitForPodScheduled, fmt.Sprintf("waiting for pods %s to be scheduled", strings.Join(names, ",")))
	}
}

// syncPreboundClaim handles a claim that names its volume.
func (c *Controller) syncPreboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	pv, err := c.volume(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		// The user asked for a volume that does not exist (yet).
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case pv.Spec.ClaimRef == nil:
		if reason := volumeMismatch(pv, claim); reason != "" {
			c.recorder.Event(claim, corev1.EventTypeWarning, EventVolumeMismatch, fmt.Sprintf("Cannot bind to requested volume %q: %s", pv.Name, reason))
			_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
			return err
		}
		return c.bind(ctx, pv, claim)
	case storagehelpers.IsVolumeBoundToClaim(pv, claim):
		return c.bind(ctx, pv, claim)
	case !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController):
		// The volume the user asked for is someone else's; wait.
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	return fmt.Errorf("invalid binding of claim %s/%s to volume %q: volume already claimed by %s/%s",
		claim.Namespace, claim.Name, pv.Name, pv.Spec.ClaimRef.Namespace, pv.Spec.ClaimRef.Name)
}

// volumeMismatch says why a volume cannot serve a claim that names it
// (upstream's checkVolumeSatisfyClaim), "" if it can.
func volumeMismatch(pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) string {
	want := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	have := pv.Spec.Capacity[corev1.ResourceStorage]
	switch {
	case want.Cmp(have) > 0:
		return "requested PV is too small"
	case storagehelpers.GetPersistentVolumeClass(pv) != storagehelpers.GetPersistentVolumeClaimClass(claim):
		return "storageClassName does not match"
	case storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &pv.Spec):
		return "incompatible volumeMode"
	case !storagehelpers.CheckAccessModes(claim, pv):
		return "incompatible accessMode"
	}
	return ""
}

func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		_, err := c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, EventClaimLost, "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
		return err
	}
	pv, err := c.volume(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		_, err = c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, EventClaimLost, "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
		return err
	}
	if err != nil {
		return err
	}
	if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == claim.UID {
		// Either the volume came unbound (or the cache has not seen its
		// binding yet), or all is well: bind makes sure of every step.
		return c.bind(ctx, pv, claim)
	}
	_, err = c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, EventClaimMisbound, "Two claims are bound to the same volume, this one is bound incorrectly")
	return err
}

// bind binds volume and claim to each other: the volume's claimRef and
// phase, then the claim's volumeName, annotations and status. Each step is
// skipped when already done.
func (c *Controller) bind(ctx context.Context, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	pv, err := c.bindVolumeToClaim(ctx, pv, claim)
	if err != nil {
		return fmt.Errorf("binding volume %q to claim %s/%s: %w", pv.Name, claim.Namespace, claim.Name, err)
	}
	if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeBound, ""); err != nil {
		return err
	}
	if claim, err = c.bindClaimToVolume(ctx, claim, pv); err != nil {
		return fmt.Errorf("binding claim %s/%s to volume %q: %w", claim.Namespace, claim.Name, pv.Name, err)
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimBound, pv)
	return err
}

func (c *Controller) bindVolumeToClaim(ctx context.Context, pv *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	cp, dirty, err := storagehelpers.GetBindVolumeToClaim(pv, claim)
	if err != nil || !dirty {
		return pv, err
	}
	return c.updateVolume(ctx, cp)
}

func (c *Controller) bindClaimToVolume(ctx context.Context, claim *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	cp := claim.DeepCopy()
	dirty := false
	if claim.Spec.VolumeName != pv.Name {
		cp.Spec.VolumeName = pv.Name
		if !metav1.HasAnnotation(cp.ObjectMeta, storagehelpers.AnnBoundByController) {
			metav1.SetMetaDataAnnotation(&cp.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
		}
		dirty = true
	}
	if !metav1.HasAnnotation(cp.ObjectMeta, storagehelpers.AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&cp.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
		dirty = true
	}
	if !dirty {
		return claim, nil
	}
	out, err := c.client.CoreV1().PersistentVolumeClaims(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return claim, err
	}
	c.remember(claimPrefix+out.Namespace+"/"+out.Name, out.ResourceVersion, out)
	return out, nil
}

// updateClaimStatus sets the claim's phase, and its capacity and access
// modes from pv (cleared when pv is nil).
func (c *Controller) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	cp := claim.DeepCopy()
	cp.Status.Phase = phase
	if pv == nil {
		cp.Status.AccessModes = nil
		cp.Status.Capacity = nil
	} else {
		cp.Status.AccessModes = pv.Spec.AccessModes
		if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; ok {
			if cur, ok := claim.Status.Capacity[corev1.ResourceStorage]; !ok || cur.Cmp(q) != 0 {
				cp.Status.Capacity = cp.Status.Capacity.DeepCopy()
				if cp.Status.Capacity == nil {
					cp.Status.Capacity = corev1.ResourceList{}
				}
				cp.Status.Capacity[corev1.ResourceStorage] = q
			}
		}
	}
	if claimStatusEqual(&claim.Status, &cp.Status) {
		return claim, nil
	}
	out, err := c.client.CoreV1().PersistentVolumeClaims(cp.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return claim, fmt.Errorf("updating status of claim %s/%s: %w", claim.Namespace, claim.Name, err)
	}
	c.remember(claimPrefix+out.Namespace+"/"+out.Name, out.ResourceVersion, out)
	return out, nil
}

func claimStatusEqual(a, b *corev1.PersistentVolumeClaimStatus) bool {
	if a.Phase != b.Phase || len(a.AccessModes) != len(b.AccessModes) || len(a.Capacity) != len(b.Capacity) {
		return false
	}
	for i := range a.AccessModes {
		if a.AccessModes[i] != b.AccessModes[i] {
			return false
		}
	}
	for k, q := range a.Capacity {
		if p, ok := b.Capacity[k]; !ok || p.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

// updateClaimStatusWithEvent moves the claim to phase, recording the event
// only when the phase changes.
func (c *Controller) updateClaimStatusWithEvent(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, reason, msg string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Status.Phase == phase {
		return claim, nil
	}
	out, err := c.updateClaimStatus(ctx, claim, phase, nil)
	if err != nil {
		return claim, err
	}
	c.recorder.Event(out, corev1.EventTypeWarning, reason, msg)
	return out, nil
}

// assignDefaultClass sets the default StorageClass on a claim whose
// storageClassName is unset, reporting whether it did.
func (c *Controller) assignDefaultClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) (bool, error) {
	if storagehelpers.PersistentVolumeClaimHasClass(claim) {
		return false, nil
	}
	classes, err := c.classes.List(labelsEverything)
	if err != nil {
		return false, err
	}
	class := DefaultClass(classes)
	if class == nil {
		return false, nil
	}
	cp := claim.DeepCopy()
	cp.Spec.StorageClassName = &class.Name
	out, err := c.client.CoreV1().PersistentVolumeClaims(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return false, fmt.Errorf("assigning the default class %q to claim %s/%s: %w", class.Name, claim.Namespace, claim.Name, err)
	}
	c.remember(claimPrefix+out.Namespace+"/"+out.Name, out.ResourceVersion, out)
	return true, nil
}

// DefaultClass returns the default class among classes: the newest of those
// annotated as default (ties by name), nil if none is.
func DefaultClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var defaults []*storagev1.StorageClass
	for _, sc := range classes {
		if sc.Annotations[AnnDefaultClass] == "true" || sc.Annotations[AnnBetaDefaultClass] == "true" {
			defaults = append(defaults, sc)
		}
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		ti, tj := defaults[i].CreationTimestamp.UnixNano(), defaults[j].CreationTimestamp.UnixNano()
		if ti == tj {
			return defaults[i].Name < defaults[j].Name
		}
		return ti > tj
	})
	return defaults[0]
}

// provision hands the claim to its class's provisioner: the
// volume.kubernetes.io/storage-provisioner annotation (and the beta one) is
// what external provisioners wait for.
func (c *Controller) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	className := storagehelpers.GetPersistentVolumeClaimClass(claim)
	class, err := c.classes.Get(className)
	if apierrors.IsNotFound(err) {
		c.recorder.Event(claim, corev1.EventTypeWarning, EventProvisioningFailed, fmt.Sprintf("storageclass.storage.k8s.io %q not found", className))
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	if claim.Annotations[storagehelpers.AnnStorageProvisioner] != class.Provisioner || claim.Annotations[storagehelpers.AnnBetaStorageProvisioner] != class.Provisioner {
		cp := claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&cp.ObjectMeta, storagehelpers.AnnStorageProvisioner, class.Provisioner)
		metav1.SetMetaDataAnnotation(&cp.ObjectMeta, storagehelpers.AnnBetaStorageProvisioner, class.Provisioner)
		out, err := c.client.CoreV1().PersistentVolumeClaims(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("setting the provisioner of claim %s/%s: %w", claim.Namespace, claim.Name, err)
		}
		c.remember(claimPrefix+out.Namespace+"/"+out.Name, out.ResourceVersion, out)
		claim = out
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, EventExternalProvisioning, fmt.Sprintf("Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.", class.Provisioner))
	return nil
}
