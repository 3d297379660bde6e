package deployment

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/davecgh/go-spew/spew"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	intstrutil "k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Annotations and labels Kubernetes' Deployment controller uses; ctl's
// rollout commands and kubectl read them.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	rollbackToAnnotation      = "deprecated.deployment.rollback.to"
	lastAppliedAnnotation     = "kubectl.kubernetes.io/last-applied-configuration"
	// PodTemplateHashLabel ties a ReplicaSet and its pods to one template.
	PodTemplateHashLabel = appsv1.DefaultDeploymentUniqueLabelKey
)

// Condition reasons, as upstream.
const (
	NewReplicaSetReason         = "NewReplicaSetCreated"
	FoundNewRSReason            = "FoundNewReplicaSet"
	ReplicaSetUpdatedReason     = "ReplicaSetUpdated"
	NewRSAvailableReason        = "NewReplicaSetAvailable"
	TimedOutReason              = "ProgressDeadlineExceeded"
	MinimumReplicasAvailable    = "MinimumReplicasAvailable"
	MinimumReplicasUnavailable  = "MinimumReplicasUnavailable"
	FailedRSCreateReason        = "ReplicaSetCreateError"
	PausedDeployReason          = "DeploymentPaused"
	ResumedDeployReason         = "DeploymentResumed"
	revisionHistoryLimitInChars = 2000
)

// ComputeHash is upstream's pod-template-hash: fnv32a over a spew dump of
// the template (plus the collision count), safe-encoded.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	deepHashObject(h, *template)
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func deepHashObject(h hash.Hash, obj any) {
	h.Reset()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", obj)
}

// equalIgnoreHash compares templates without the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, PodTemplateHashLabel)
	delete(b.Labels, PodTemplateHashLabel)
	return equality.Semantic.DeepEqual(a, b)
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func dReplicas(d *appsv1.Deployment) int32 { return replicas(d.Spec.Replicas) }

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
}

// ResolveFenceposts turns maxSurge/maxUnavailable into counts: surge rounds
// up, unavailable down, and both zero means one may be unavailable.
func ResolveFenceposts(maxSurge, maxUnavailable *intstrutil.IntOrString, desired int32) (int32, int32, error) {
	def := intstrutil.FromString("25%")
	if maxSurge == nil {
		maxSurge = &def
	}
	if maxUnavailable == nil {
		maxUnavailable = &def
	}
	surge, err := intstrutil.GetScaledValueFromIntOrPercent(maxSurge, int(desired), true)
	if err != nil {
		return 0, 0, err
	}
	unavailable, err := intstrutil.GetScaledValueFromIntOrPercent(maxUnavailable, int(desired), false)
	if err != nil {
		return 0, 0, err
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return int32(surge), int32(unavailable), nil
}

func rollingParams(d *appsv1.Deployment) (*intstrutil.IntOrString, *intstrutil.IntOrString) {
	if d.Spec.Strategy.RollingUpdate == nil {
		return nil, nil
	}
	return d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable
}

// MaxSurge is how many pods above the desired count a rollout may run.
func MaxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, u := rollingParams(d)
	surge, _, _ := ResolveFenceposts(s, u, dReplicas(d))
	return surge
}

// MaxUnavailable is how many desired pods a rollout may leave unavailable.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || dReplicas(d) == 0 {
		return 0
	}
	s, u := rollingParams(d)
	_, unavailable, _ := ResolveFenceposts(s, u, dReplicas(d))
	return min(unavailable, dReplicas(d))
}

func sumSpec(rss []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += replicas(rs.Spec.Replicas)
		}
	}
	return n
}

func sumStatus(rss []*appsv1.ReplicaSet, f func(appsv1.ReplicaSetStatus) int32) int32 {
	var n int32
	for _, rs := range rss {
		if rs != nil {
			n += f(rs.Status)
		}
	}
	return n
}

func statusReplicas(s appsv1.ReplicaSetStatus) int32  { return s.Replicas }
func statusReady(s appsv1.ReplicaSetStatus) int32     { return s.ReadyReplicas }
func statusAvailable(s appsv1.ReplicaSetStatus) int32 { return s.AvailableReplicas }

func activeReplicaSets(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicas(rs.Spec.Replicas) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func byCreation(rss []*appsv1.ReplicaSet) func(i, j int) bool {
	return func(i, j int) bool {
		a, b := rss[i], rss[j]
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
}

// sortBySizeOlder: bigger first, older first on ties (scale down).
func sortBySizeOlder(rss []*appsv1.ReplicaSet) {
	older := byCreation(rss)
	sort.SliceStable(rss, func(i, j int) bool {
		if replicas(rss[i].Spec.Replicas) == replicas(rss[j].Spec.Replicas) {
			return older(i, j)
		}
		return replicas(rss[i].Spec.Replicas) > replicas(rss[j].Spec.Replicas)
	})
}

// sortBySizeNewer: bigger first, newer first on ties (scale up).
func sortBySizeNewer(rss []*appsv1.ReplicaSet) {
	older := byCreation(rss)
	sort.SliceStable(rss, func(i, j int) bool {
		if replicas(rss[i].Spec.Replicas) == replicas(rss[j].Spec.Replicas) {
			return older(j, i)
		}
		return replicas(rss[i].Spec.Replicas) > replicas(rss[j].Spec.Replicas)
	})
}

// Revision reads the revision annotation of a ReplicaSet or Deployment.
func Revision(obj metav1.Object) int64 {
	v, err := strconv.ParseInt(obj.GetAnnotations()[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs))
	}
	return m
}

func intAnnotation(obj metav1.Object, key string) (int32, bool) {
	v, ok := obj.GetAnnotations()[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

var skippedAnnotations = map[string]bool{
	lastAppliedAnnotation:     true,
	RevisionAnnotation:        true,
	RevisionHistoryAnnotation: true,
	DesiredReplicasAnnotation: true,
	MaxReplicasAnnotation:     true,
	rollbackToAnnotation:      true,
}

// setNewReplicaSetAnnotations copies the Deployment's annotations to the new
// ReplicaSet and moves its revision forward, remembering earlier revisions
// it held in revision-history. Reports whether anything changed.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skippedAnnotations[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	oldRevision := rs.Annotations[RevisionAnnotation]
	oldN, oldErr := strconv.ParseInt(oldRevision, 10, 64)
	newN, err := strconv.ParseInt(newRevision, 10, 64)
	if err != nil {
		return changed
	}
	if oldErr != nil || oldN < newN {
		rs.Annotations[RevisionAnnotation] = newRevision
		changed = true
		if oldRevision != "" {
			history := rs.Annotations[RevisionHistoryAnnotation]
			if history == "" {
				history = oldRevision
			} else {
				history = history + "," + oldRevision
			}
			for len(history) > revisionHistoryLimitInChars {
				_, rest, ok := strings.Cut(history, ",")
				if !ok {
					history = ""
					break
				}
				history = rest
			}
			rs.Annotations[RevisionHistoryAnnotation] = history
		}
	}
	if !exists && setReplicasAnnotations(rs, dReplicas(d), dReplicas(d)+MaxSurge(d)) {
		changed = true
	}
	return changed
}

func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, max int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(max))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = d
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

func replicasAnnotationsNeedUpdate(rs *appsv1.ReplicaSet, desired, max int32) bool {
	return rs.Annotations[DesiredReplicasAnnotation] != strconv.Itoa(int(desired)) ||
		rs.Annotations[MaxReplicasAnnotation] != strconv.Itoa(int(max))
}

// newRSReplicas is how big the new ReplicaSet may be now.
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRollingUpdate(d) {
		return dReplicas(d)
	}
	maxTotal := dReplicas(d) + MaxSurge(d)
	// Upstream counts spec.replicas only, so while an old ReplicaSet's
	// surplus pods are still being deleted the new one may already grow and
	// real pods exceed replicas+maxSurge. Counting what each ReplicaSet last
	// reported as well keeps the bound on pods, not just on specs.
	var current int32
	for _, rs := range all {
		if rs != nil {
			current += max(replicas(rs.Spec.Replicas), rs.Status.Replicas)
		}
	}
	if current >= maxTotal {
		return replicas(newRS.Spec.Replicas)
	}
	up := min(maxTotal-current, dReplicas(d)-replicas(newRS.Spec.Replicas))
	return replicas(newRS.Spec.Replicas) + up
}

// findActiveOrLatest is the only ReplicaSet with pods, if exactly one has
// them, or the newest one if none has.
func findActiveOrLatest(newRS *appsv1.ReplicaSet, oldRSs []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(oldRSs) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), oldRSs...)
	older := byCreation(sorted)
	sort.SliceStable(sorted, func(i, j int) bool { return older(j, i) })
	all := activeReplicaSets(append(sorted, newRS))
	switch len(all) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return all[0]
	}
	return nil
}

func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, DesiredReplicasAnnotation)
	return ok && desired == dReplicas(d) && replicas(rs.Spec.Replicas) == dReplicas(d) &&
		rs.Status.AvailableReplicas == dReplicas(d)
}

// proportion is how many of toAdd replicas rs takes when a Deployment is
// resized mid-rollout: its share of the size it was last scaled for.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicas(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := fractionOf(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

func fractionOf(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if dReplicas(d) == 0 {
		return -replicas(rs.Spec.Replicas)
	}
	deploymentReplicas := dReplicas(d) + MaxSurge(d)
	annotated, ok := intAnnotation(rs, MaxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(replicas(rs.Spec.Replicas)*deploymentReplicas) / float64(annotated)
	return int32(math.Round(size)) - replicas(rs.Spec.Replicas)
}
