package daemonset

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// surgeCount is maxSurge scaled to numberToSchedule nodes (rounding up);
// 0 unless the strategy is RollingUpdate with a maxSurge.
func surgeCount(ds *appsv1.DaemonSet, numberToSchedule int) (int, error) {
	r := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || r == nil || r.MaxSurge == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(r.MaxSurge, numberToSchedule, true)
}

// unavailableCount is maxUnavailable scaled to numberToSchedule nodes
// (rounding up).
func unavailableCount(ds *appsv1.DaemonSet, numberToSchedule int) (int, error) {
	r := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || r == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(r.MaxUnavailable, numberToSchedule, true)
}

func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}

// rollingUpdate replaces outdated pods. Without surge it deletes old pods
// (the manage step then creates new ones) while at most maxUnavailable
// nodes lack an available pod, deleting unavailable old pods first. With
// surge it creates new pods beside old ones on at most maxSurge nodes and
// deletes an old pod once its replacement is available.
func (c *Controller) rollingUpdate(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) error {
	pl := newPlacement(ds)
	desired := 0
	for _, n := range nodes {
		if run, _ := pl.shouldRun(n); run {
			desired++
			if _, ok := nodeToPods[n.Name]; !ok {
				nodeToPods[n.Name] = nil
			}
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return fmt.Errorf("invalid value for MaxUnavailable: %w", err)
	}
	maxSurge, err := surgeCount(ds, desired)
	if err != nil {
		return fmt.Errorf("invalid value for MaxSurge: %w", err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		// Neither surge nor unavailability allowed: accept one
		// unavailable node, as upstream, rather than never rolling.
		maxUnavailable = 1
	}
	now := c.clock.Now()
	available := func(p *corev1.Pod) bool { return podAvailable(p, ds.Spec.MinReadySeconds, now) }

	if maxSurge == 0 {
		var numUnavailable int
		var replace, candidates []string
		for _, nodeName := range sortedKeys(nodeToPods) {
			newPod, oldPod, ok := updatedPodsOnNode(ds, nodeToPods[nodeName], hash)
			if !ok {
				// Several pods of one kind on the node: manage
				// prunes them; count the node as unavailable.
				numUnavailable++
				continue
			}
			switch {
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				numUnavailable++
			case newPod != nil:
				if !available(newPod) {
					numUnavailable++
				}
			default:
				switch {
				case !available(oldPod):
					// Replacing an unavailable pod costs nothing.
					replace = append(replace, oldPod.Name)
					numUnavailable++
				case numUnavailable >= maxUnavailable:
				default:
					candidates = append(candidates, oldPod.Name)
				}
			}
		}
		remaining := min(max(maxUnavailable-numUnavailable, 0), len(candidates))
		return c.syncNodes(ctx, ds, append(replace, candidates[:remaining]...), nil, hash)
	}

	var del, shouldNotRun, candidateNodes, allowedNodes []string
	var numSurge, numAvailable int
	for _, nodeName := range sortedKeys(nodeToPods) {
		newPod, oldPod, ok := updatedPodsOnNode(ds, nodeToPods[nodeName], hash)
		if !ok {
			numSurge++
			continue
		}
		if oldPod != nil {
			if available(oldPod) {
				numAvailable++
			}
		} else if newPod != nil && available(newPod) {
			numAvailable++
		}
		switch {
		case oldPod == nil:
			// Nothing to roll, or manage creates the pod.
		case newPod == nil:
			node, err := c.nodeLister.Get(nodeName)
			if err != nil {
				return fmt.Errorf("getting node %q: %w", nodeName, err)
			}
			run, _ := pl.shouldRun(node)
			if !available(oldPod) {
				if !run {
					del = append(del, oldPod.Name)
					continue
				}
				// An unavailable old pod gets its replacement now.
				allowedNodes = append(allowedNodes, nodeName)
				continue
			}
			if !run {
				shouldNotRun = append(shouldNotRun, oldPod.Name)
				continue
			}
			if numSurge < maxSurge {
				candidateNodes = append(candidateNodes, nodeName)
			}
		default:
			// Both: the old pod goes once the new one is available.
			if !available(newPod) {
				numSurge++
				continue
			}
			del = append(del, oldPod.Name)
		}
	}
	// Old pods on nodes that no longer want one go while more pods are
	// available than desired.
	if n := min(numAvailable-desired, len(shouldNotRun)); n > 0 {
		del = append(del, shouldNotRun[:n]...)
	}
	remaining := min(max(maxSurge-numSurge, 0), len(candidateNodes))
	return c.syncNodes(ctx, ds, del, append(allowedNodes, candidateNodes[:remaining]...), hash)
}

// updatedPodsOnNode returns the node's new (current revision) and old pod,
// ignoring terminating ones; ok is false if there are two of either.
func updatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if podUpdated(ds, p, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// sortedKeys makes the order nodes are rolled in stable (upstream's is a
// map's).
func sortedKeys(m map[string][]*corev1.Pod) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
