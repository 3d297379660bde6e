package statefulset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
)

// hashLabel carries a ControllerRevision's hash, as upstream's history
// package names it.
const hashLabel = "controller.kubernetes.io/hash"

// patchCodec encodes a StatefulSet as upstream does before cutting its
// template out, so revision data (and hence names) match a real cluster's.
var patchCodec = scheme.Codecs.LegacyCodec(appsv1.SchemeGroupVersion)

// revisionPatch is the strategic merge patch that restores set's pod
// template: {"spec":{"template":{"$patch":"replace",...}}}, keys sorted.
func revisionPatch(set *appsv1.StatefulSet) ([]byte, error) {
	data, err := runtime.Encode(patchCodec, set)
	if err != nil {
		return nil, fmt.Errorf("encoding statefulset: %w", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	spec, _ := raw["spec"].(map[string]any)
	template, _ := spec["template"].(map[string]any)
	if template == nil {
		template = map[string]any{}
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// hashRevision is upstream's HashControllerRevision: FNV-32 of the data and
// the collision count, encoded with the alphabet that avoids bad words.
func hashRevision(rev *appsv1.ControllerRevision, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(rev.Data.Raw)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionName is <prefix>-<hash>, the prefix cut to keep it under 253.
func revisionName(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// newRevision is the ControllerRevision that records set's template as
// revision number `revision`.
func newRevision(set *appsv1.StatefulSet, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	patch, err := revisionPatch(set)
	if err != nil {
		return nil, err
	}
	lbls := make(map[string]string, len(set.Spec.Template.Labels)+1)
	for k, v := range set.Spec.Template.Labels {
		lbls[k] = v
	}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}
	hash := hashRevision(cr, collisionCount)
	cr.Name = revisionName(set.Name, hash)
	cr.Labels[hashLabel] = hash
	for k, v := range set.Annotations {
		cr.Annotations[k] = v
	}
	return cr, nil
}

// applyRevision returns set with the spec that revision restores.
func applyRevision(set *appsv1.StatefulSet, revision *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	clone := set.DeepCopy()
	original, err := runtime.Encode(patchCodec, clone)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(original, revision.Data.Raw, clone)
	if err != nil {
		return nil, fmt.Errorf("applying revision %s: %w", revision.Name, err)
	}
	restored := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, restored); err != nil {
		return nil, fmt.Errorf("applying revision %s: %w", revision.Name, err)
	}
	clone.Spec = restored.Spec
	return clone, nil
}

// equalRevision compares the data of two revisions, as upstream (whose
// hash-label shortcut never applies to safe-encoded hashes).
func equalRevision(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Data.Raw, b.Data.Raw)
}

// sortRevisions orders by Revision, then creation time, then name.
func sortRevisions(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

func nextRevision(sorted []*appsv1.ControllerRevision) int64 {
	if len(sorted) == 0 {
		return 1
	}
	return sorted[len(sorted)-1].Revision + 1
}

// listRevisions returns the revisions matching set's selector that set
// controls or nobody does.
func (c *Controller) listRevisions(set *appsv1.StatefulSet, sel labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revLister.ControllerRevisions(set.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ControllerRevision
	for _, r := range all {
		if ref := metav1.GetControllerOfNoCopy(r); ref == nil || ref.UID == set.UID {
			out = append(out, r)
		}
	}
	return out, nil
}

// createRevision creates rev under set, renaming it with a bumped
// collisionCount while another revision with different data holds the name.
func (c *Controller) createRevision(ctx context.Context, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	client := c.client.AppsV1().ControllerRevisions(set.Namespace)
	clone := rev.DeepCopy()
	clone.Namespace = set.Namespace
	for {
		clone.Name = revisionName(set.Name, hashRevision(rev, collisionCount))
		created, err := client.Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return nil, fmt.Errorf("creating controllerrevision %s: %w", clone.Name, err)
			}
			return created, nil
		}
		exists, err := client.Get(ctx, clone.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if bytes.Equal(exists.Data.Raw, clone.Data.Raw) {
			return exists, nil
		}
		*collisionCount++
	}
}

// bumpRevision gives an existing revision a new number (a rollback to it).
func (c *Controller) bumpRevision(ctx context.Context, rev *appsv1.ControllerRevision, number int64) (*appsv1.ControllerRevision, error) {
	client := c.client.AppsV1().ControllerRevisions(rev.Namespace)
	clone := rev.DeepCopy()
	for attempt := 0; ; attempt++ {
		if clone.Revision == number {
			return clone, nil
		}
		clone.Revision = number
		updated, err := client.Update(ctx, clone, metav1.UpdateOptions{})
		if err == nil {
			return updated, nil
		}
		if attempt > 2 || !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("updating controllerrevision %s: %w", rev.Name, err)
		}
		if clone, err = client.Get(ctx, rev.Name, metav1.GetOptions{}); err != nil {
			return nil, err
		}
	}
}

// adoptRevision makes set the controller of an orphaned revision.
func (c *Controller) adoptRevision(ctx context.Context, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		"uid":             rev.UID,
	}})
	_, err := c.client.AppsV1().ControllerRevisions(set.Namespace).Patch(ctx, rev.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// revisions finds (creating or renumbering as needed) the current and update
// revisions of set; revs must be sorted.
func (c *Controller) revisions(ctx context.Context, set *appsv1.StatefulSet, revs []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	update, err = newRevision(set, nextRevision(revs), &collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range revs {
		if equalRevision(r, update) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equalRevision(revs[len(revs)-1], equal[len(equal)-1]):
		// The template has not changed since the latest revision.
		update = revs[len(revs)-1]
	case len(equal) > 0:
		// Back to an older template: renumber that revision as the newest.
		if update, err = c.bumpRevision(ctx, equal[len(equal)-1], update.Revision); err != nil {
			return nil, nil, collisionCount, err
		}
	default:
		if update, err = c.createRevision(ctx, set, update, &collisionCount); err != nil {
			return nil, nil, collisionCount, err
		}
	}
	for _, r := range revs {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}

// truncateHistory deletes the oldest revisions that no pod, nor the current
// or update revision, uses, down to revisionHistoryLimit.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, revs []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{}
	if current != nil {
		live[current.Name] = true
	}
	if update != nil {
		live[update.Name] = true
	}
	for _, p := range pods {
		live[podRevision(p)] = true
	}
	var old []*appsv1.ControllerRevision
	for _, r := range revs {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	limit := int(*set.Spec.RevisionHistoryLimit)
	if limit < 0 || len(old) <= limit {
		return nil
	}
	for _, r := range old[:len(old)-limit] {
		err := c.client.AppsV1().ControllerRevisions(r.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting controllerrevision %s: %w", r.Name, err)
		}
	}
	return nil
}
