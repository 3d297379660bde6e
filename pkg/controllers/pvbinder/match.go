package pvbinder

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// FindBestMatch returns the volume for claim among pvs, nil if none fits:
// one pre-bound to the claim (by its claimRef) if any, else the smallest
// Available one of the claim's class whose capacity, volume mode and labels
// fit, looking first at volumes with the fewest access modes that include
// all the claim's (upstream's access-mode index). With delayBinding only a
// pre-bound volume is returned: the scheduler chooses the others.
func FindBestMatch(claim *corev1.PersistentVolumeClaim, pvs []*corev1.PersistentVolume, delayBinding bool) (*corev1.PersistentVolume, error) {
	groups := map[string][]*corev1.PersistentVolume{}
	sizes := map[string]int{}
	for _, pv := range pvs {
		if !storagehelpers.CheckAccessModes(claim, pv) {
			continue
		}
		k := modesKey(pv.Spec.AccessModes)
		groups[k] = append(groups[k], pv)
		sizes[k] = len(k)
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if sizes[keys[i]] != sizes[keys[j]] {
			return sizes[keys[i]] < sizes[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		pv, err := storagehelpers.FindMatchingVolume(claim, groups[k], nil, nil, delayBinding, true)
		if err != nil || pv != nil {
			return pv, err
		}
	}
	return nil, nil
}

// modesKey is a volume's set of access modes as a sorted string of their
// abbreviations, one byte each, so that its length is the number of modes.
func modesKey(modes []corev1.PersistentVolumeAccessMode) string {
	set := map[byte]bool{}
	for _, m := range modes {
		switch m {
		case corev1.ReadWriteOnce:
			set['o'] = true
		case corev1.ReadOnlyMany:
			set['r'] = true
		case corev1.ReadWriteMany:
			set['w'] = true
		case corev1.ReadWriteOncePod:
			set['p'] = true
		}
	}
	b := make([]byte, 0, len(set))
	for k := range set {
		b = append(b, k)
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b)
}
