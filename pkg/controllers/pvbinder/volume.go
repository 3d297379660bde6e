package pvbinder

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

func (c *Controller) syncVolumeKey(ctx context.Context, name string) error {
	pv, err := c.volume(name)
	if apierrors.IsNotFound(err) {
		c.forget(volumePrefix + name)
		return nil
	}
	if err != nil {
		return err
	}
	return c.syncVolume(ctx, pv)
}

func (c *Controller) syncVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.UID == "" {
		// Free, or reserved for a claim that has not bound it yet (the
		// claim's sync does).
		_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeAvailable, "")
		return err
	}
	claim, err := c.claimOf(ctx, pv)
	if err != nil {
		return err
	}
	switch {
	case claim == nil:
		// The claim is gone: release the volume (once; a Failed volume
		// stays Failed for the user to see) and reclaim it.
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, pv)
	case claim.Spec.VolumeName == "":
		if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &pv.Spec) {
			c.recorder.Event(pv, corev1.EventTypeWarning, EventVolumeMismatch, fmt.Sprintf("Cannot bind PersistentVolume to requested PersistentVolumeClaim %q due to incompatible volumeMode.", claim.Name))
			c.recorder.Event(claim, corev1.EventTypeWarning, EventVolumeMismatch, fmt.Sprintf("Cannot bind PersistentVolume %q to requested PersistentVolumeClaim due to incompatible volumeMode.", pv.Name))
			return nil
		}
		// The claim's sync completes the binding.
		c.queue.Add(claimPrefix + claim.Namespace + "/" + claim.Name)
		return nil
	case claim.Spec.VolumeName == pv.Name:
		_, err = c.updateVolumePhase(ctx, pv, corev1.VolumeBound, "")
		return err
	case metav1.HasAnnotation(pv.ObjectMeta, storagehelpers.AnnDynamicallyProvisioned) && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete:
		// Provisioned for a claim that got bound to another volume: not
		// needed any more.
		if pv.Status.Phase != corev1.VolumeReleased && pv.Status.Phase != corev1.VolumeFailed {
			if pv, err = c.updateVolumePhase(ctx, pv, corev1.VolumeReleased, ""); err != nil {
				return err
			}
		}
		return c.reclaim(ctx, pv)
	case metav1.HasAnnotation(pv.ObjectMeta, storagehelpers.AnnBoundByController):
		// We chose this volume for a claim that then got another: free it.
		return c.unbindVolume(ctx, pv)
	}
	// Pre-bound by the user to a claim bound elsewhere: leave it alone.
	return nil
}

// claimOf returns the claim the volume's claimRef names, nil if it is gone
// (or replaced by a claim of the same name). A claim missing from the cache
// is looked up on the server before the volume is released: a volume
// provisioned and bound elsewhere may arrive before its claim's update.
func (c *Controller) claimOf(ctx context.Context, pv *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	ref := pv.Spec.ClaimRef
	claim, err := c.claim(ref.Namespace, ref.Name)
	switch {
	case apierrors.IsNotFound(err):
		if pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed {
			return nil, nil
		}
		claim = nil
	case err != nil:
		return nil, err
	}
	if claim != nil && claim.UID == ref.UID {
		return claim, nil
	}
	if claim == nil && (pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed) {
		return nil, nil
	}
	live, err := c.client.CoreV1().PersistentVolumeClaims(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if live.UID != ref.UID {
		return nil, nil
	}
	return live, nil
}

// reclaim applies the reclaim policy of a released volume. Retain keeps it
// Released; Delete is the provisioner's (every provisioner is external
// here), or the administrator's for a volume nobody provisioned; Recycle
// has no recycler.
func (c *Controller) reclaim(ctx context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRecycle {
		return nil
	}
	if pv.Status.Phase == corev1.VolumeFailed {
		return nil
	}
	c.recorder.Event(pv, corev1.EventTypeWarning, EventVolumeFailedRecycle, "No recycler plugin found for the volume!")
	_, err := c.updateVolumePhase(ctx, pv, corev1.VolumeFailed, "No recycler plugin found for the volume!")
	return err
}

// unbindVolume frees a volume the binder bound; a volume the user pre-bound
// keeps its claimRef, without the UID.
func (c *Controller) unbindVolume(ctx context.Context, pv *corev1.PersistentVolume) error {
	cp := pv.DeepCopy()
	if metav1.HasAnnotation(pv.ObjectMeta, storagehelpers.AnnBoundByController) {
		cp.Spec.ClaimRef = nil
		delete(cp.Annotations, storagehelpers.AnnBoundByController)
		if len(cp.Annotations) == 0 {
			cp.Annotations = nil
		}
	} else {
		cp.Spec.ClaimRef.UID = ""
	}
	out, err := c.updateVolume(ctx, cp)
	if err != nil {
		return fmt.Errorf("unbinding volume %q: %w", pv.Name, err)
	}
	_, err = c.updateVolumePhase(ctx, out, corev1.VolumeAvailable, "")
	return err
}

func (c *Controller) updateVolume(ctx context.Context, pv *corev1.PersistentVolume) (*corev1.PersistentVolume, error) {
	out, err := c.client.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
	if err != nil {
		return pv, err
	}
	c.remember(volumePrefix+out.Name, out.ResourceVersion, out)
	return out, nil
}

// updateVolumePhase writes the volume's phase and message if they differ,
// with the time of the transition.
func (c *Controller) updateVolumePhase(ctx context.Context, pv *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, msg string) (*corev1.PersistentVolume, error) {
	if pv.Status.Phase == phase && pv.Status.Message == msg {
		return pv, nil
	}
	cp := pv.DeepCopy()
	if cp.Status.Phase != phase {
		now := metav1.Now()
		cp.Status.LastPhaseTransitionTime = &now
	}
	cp.Status.Phase = phase
	cp.Status.Message = msg
	out, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return pv, fmt.Errorf("setting phase %s of volume %q: %w", phase, pv.Name, err)
	}
	c.remember(volumePrefix+out.Name, out.ResourceVersion, out)
	return out, nil
}
