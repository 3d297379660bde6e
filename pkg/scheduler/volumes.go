package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

// Reasons of the volume binding, as upstream's VolumeBinding plugin words
// them.
const (
	ReasonVolumeNodeConflict = "node(s) had volume node affinity conflict"
	ReasonVolumeBindConflict = "node(s) didn't find available persistent volumes to bind"
	ReasonVolumePVNotExist   = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	// MsgUnboundImmediate rejects the pod before any node is looked at.
	MsgUnboundImmediate = "pod has unbound immediate PersistentVolumeClaims"
)

var (
	reasonsVolumeNodeConflict = []string{ReasonVolumeNodeConflict}
	reasonsVolumeBindConflict = []string{ReasonVolumeBindConflict}
	reasonsVolumePVNotExist   = []string{ReasonVolumePVNotExist}
)

// PodVolumes is what the volume filter needs to know about a pod's
// PersistentVolumeClaims: the volumes of its bound claims, and its claims
// that wait for a node (WaitForFirstConsumer) with what could serve them.
type PodVolumes struct {
	// Bound are the volumes of the pod's bound claims; nil entries are
	// claims whose volume does not exist.
	Bound []*v1.PersistentVolume
	// Delayed are the claims whose binding waits for this pod's node.
	Delayed []*DelayedClaim
}

// DelayedClaim is an unbound claim of a WaitForFirstConsumer class.
type DelayedClaim struct {
	Claim *v1.PersistentVolumeClaim
	Class *storagev1.StorageClass
	// Volumes are the free volumes of the claim's class, any of which
	// might serve it on some node.
	Volumes []*v1.PersistentVolume
}

// volumeListers reads claims, volumes and classes.
type volumeListers struct {
	claims  corelisters.PersistentVolumeClaimLister
	volumes corelisters.PersistentVolumeLister
	classes storagelisters.StorageClassLister
}

// podVolumes classifies the pod's claims (upstream's PreFilter): a message
// if the pod cannot be placed anywhere yet, else what the filter needs
// (nil for a pod without claims).
func (l volumeListers) podVolumes(pod *v1.Pod) (*PodVolumes, string, error) {
	var pv *PodVolumes
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		var name string
		switch {
		case v.PersistentVolumeClaim != nil:
			name = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			// A generic ephemeral volume's claim, made for the pod.
			name = pod.Name + "-" + v.Name
		default:
			continue
		}
		if pv == nil {
			pv = &PodVolumes{}
		}
		claim, err := l.claims.PersistentVolumeClaims(pod.Namespace).Get(name)
		switch {
		case apierrors.IsNotFound(err) && v.Ephemeral != nil:
			return nil, fmt.Sprintf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name), nil
		case apierrors.IsNotFound(err):
			return nil, fmt.Sprintf("persistentvolumeclaim %q not found", name), nil
		case err != nil:
			return nil, "", err
		case claim.DeletionTimestamp != nil:
			return nil, fmt.Sprintf("persistentvolumeclaim %q is being deleted", name), nil
		case v.Ephemeral != nil && !metav1.IsControlledBy(claim, pod):
			return nil, fmt.Sprintf("PVC %s/%s was not created for pod %s/%s (pod is not owner)", claim.Namespace, claim.Name, pod.Namespace, pod.Name), nil
		}
		if fullyBound(claim) {
			vol, err := l.volumes.Get(claim.Spec.VolumeName)
			if err != nil && !apierrors.IsNotFound(err) {
				return nil, "", err
			}
			pv.Bound = append(pv.Bound, vol) // nil when missing
			continue
		}
		delayed, err := storagehelpers.IsDelayBindingMode(claim, l.classes)
		if err != nil {
			return nil, "", err
		}
		if !delayed || claim.Spec.VolumeName != "" {
			return nil, MsgUnboundImmediate, nil
		}
		class, err := l.classes.Get(storagehelpers.GetPersistentVolumeClaimClass(claim))
		if err != nil {
			return nil, "", err
		}
		all, err := l.volumes.List(labels.Everything())
		if err != nil {
			return nil, "", err
		}
		dc := &DelayedClaim{Claim: claim, Class: class}
		for _, v := range all {
			if v.Spec.StorageClassName == class.Name {
				dc.Volumes = append(dc.Volumes, v)
			}
		}
		pv.Delayed = append(pv.Delayed, dc)
	}
	return pv, "", nil
}

func fullyBound(claim *v1.PersistentVolumeClaim) bool {
	return claim.Spec.VolumeName != "" && metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted)
}

// FilterVolumeBinding rejects a node that a bound claim's volume is not
// available on (its node affinity), or where a claim waiting for its first
// consumer could neither get a free volume nor be provisioned.
func FilterVolumeBinding(p *PodInfo, n *NodeInfo) []string {
	if p.Volumes == nil {
		return nil
	}
	for _, vol := range p.Volumes.Bound {
		if vol == nil {
			return reasonsVolumePVNotExist
		}
		if storagehelpers.CheckNodeAffinity(vol, n.Node.Labels) != nil {
			return reasonsVolumeNodeConflict
		}
	}
	if len(p.Volumes.Delayed) > 0 {
		if _, ok := p.Volumes.plan(n.Node); !ok {
			return reasonsVolumeBindConflict
		}
	}
	return nil
}

// plan decides, for the pod's delayed claims on node, which get a free
// volume (the map, claim name to volume) and which are to be provisioned
// (absent from the map); false if some claim can have neither there.
func (pv *PodVolumes) plan(node *v1.Node) (map[string]*v1.PersistentVolume, bool) {
	var chosen map[string]*v1.PersistentVolume
	taken := map[string]*v1.PersistentVolume{}
	for _, dc := range pv.Delayed {
		vol, err := storagehelpers.FindMatchingVolume(dc.Claim, dc.Volumes, node, taken, true, true)
		if err == nil && vol != nil {
			if chosen == nil {
				chosen = map[string]*v1.PersistentVolume{}
			}
			chosen[dc.Claim.Name] = vol
			taken[vol.Name] = vol
			continue
		}
		if !canProvision(dc, node) {
			return nil, false
		}
	}
	return chosen, true
}

// canProvision: the class has a provisioner, the claim's node, if one was
// chosen already, is this one, and the class's allowed topologies include
// the node.
func canProvision(dc *DelayedClaim, node *v1.Node) bool {
	if dc.Class.Provisioner == storagehelpers.NotSupportedProvisioner {
		return false
	}
	if sel, ok := dc.Claim.Annotations[storagehelpers.AnnSelectedNode]; ok && sel != node.Name {
		return false
	}
	if len(dc.Class.AllowedTopologies) == 0 {
		return true
	}
	terms := make([]v1.NodeSelectorTerm, 0, len(dc.Class.AllowedTopologies))
	for _, t := range dc.Class.AllowedTopologies {
		var term v1.NodeSelectorTerm
		for _, e := range t.MatchLabelExpressions {
			term.MatchExpressions = append(term.MatchExpressions, v1.NodeSelectorRequirement{Key: e.Key, Operator: v1.NodeSelectorOpIn, Values: e.Values})
		}
		terms = append(terms, term)
	}
	ok, _ := corev1helpers.MatchNodeSelectorTerms(node, &v1.NodeSelector{NodeSelectorTerms: terms})
	return ok
}

// errSelectedNodeReset: the provisioner gave the claim back (it could not
// provision on the node), so the pod is scheduled again.
var errSelectedNodeReset = errors.New("selectedNode annotation reset for PVC")

// bindVolumes is upstream's PreBind: on the chosen node, each delayed claim
// gets its free volume (the volume's claimRef, which the binder completes)
// or the volume.kubernetes.io/selected-node annotation (which its
// provisioner acts on); then it waits, at most timeout, until every claim
// of the pod is bound.
func bindVolumes(ctx context.Context, client kubernetes.Interface, l volumeListers, vols *PodVolumes, node *v1.Node, timeout time.Duration) error {
	if vols == nil || len(vols.Delayed) == 0 {
		return nil
	}
	chosen, ok := vols.plan(node)
	if !ok {
		return errors.New(ReasonVolumeBindConflict)
	}
	for _, dc := range vols.Delayed {
		if vol := chosen[dc.Claim.Name]; vol != nil {
			cp, dirty, err := storagehelpers.GetBindVolumeToClaim(vol, dc.Claim)
			if err != nil {
				return err
			}
			if dirty {
				if _, err := client.CoreV1().PersistentVolumes().Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
					return fmt.Errorf("binding volume %q to claim %q: %w", vol.Name, dc.Claim.Name, err)
				}
			}
			continue
		}
		if dc.Claim.Annotations[storagehelpers.AnnSelectedNode] == node.Name {
			continue
		}
		cp := dc.Claim.DeepCopy()
		metav1.SetMetaDataAnnotation(&cp.ObjectMeta, storagehelpers.AnnSelectedNode, node.Name)
		if _, err := client.CoreV1().PersistentVolumeClaims(cp.Namespace).Update(ctx, cp, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("selecting node %s for claim %q: %w", node.Name, cp.Name, err)
		}
	}
	var reset error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		for _, dc := range vols.Delayed {
			claim, err := l.claims.PersistentVolumeClaims(dc.Claim.Namespace).Get(dc.Claim.Name)
			if err != nil {
				return false, nil // the cache may not hold it yet
			}
			if fullyBound(claim) {
				continue
			}
			// The cache only moves forward from the claim the decision
			// saw: a later version without our node is the provisioner
			// giving the claim back.
			if chosen[dc.Claim.Name] == nil && claim.ResourceVersion != dc.Claim.ResourceVersion &&
				claim.Annotations[storagehelpers.AnnSelectedNode] != node.Name {
				reset = fmt.Errorf("%w %q", errSelectedNodeReset, claim.Name)
				return false, reset
			}
			return false, nil
		}
		return true, nil
	})
	if reset != nil {
		return reset
	}
	if err != nil {
		return fmt.Errorf("waiting for the pod's claims to be bound: %w", err)
	}
	return nil
}
