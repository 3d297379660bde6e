package job

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

const (
	completionIndexEnvName = "JOB_COMPLETION_INDEX"
	noIndex                = -1
	// maxGeneratedNameLength is the apiserver's limit on a generateName
	// prefix (names.MaxGeneratedNameLength).
	maxGeneratedNameLength = 63 - 5
)

func isIndexed(job *batchv1.Job) bool {
	return job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
}

func hasBackoffLimitPerIndex(job *batchv1.Job) bool {
	return job.Spec.BackoffLimitPerIndex != nil
}

// interval is a closed range of completion indexes.
type interval struct{ first, last int }

// intervals is a sorted list of disjoint, non-adjacent intervals: the form
// of status.completedIndexes and status.failedIndexes ("1,3-5,7").
type intervals []interval

// parseIntervals reads "1,3-5,7", dropping indexes >= completions as
// upstream does (they belong to a Job that was scaled down).
func parseIntervals(s string, completions int) intervals {
	if s == "" {
		return nil
	}
	var out intervals
	for _, part := range strings.Split(s, ",") {
		bounds := strings.Split(part, "-")
		first, err := strconv.Atoi(bounds[0])
		if err != nil {
			continue
		}
		if first >= completions {
			break
		}
		last := first
		if len(bounds) > 1 {
			if last, err = strconv.Atoi(bounds[1]); err != nil {
				continue
			}
			last = min(last, completions-1)
		}
		if n := len(out); n > 0 && out[n-1].last == first-1 {
			out[n-1].last = last
		} else {
			out = append(out, interval{first, last})
		}
	}
	return out
}

// with returns oi merged with the indexes ix (any order, duplicates fine).
func (oi intervals) with(ix ...int) intervals {
	sorted := slices.Clone(ix)
	slices.Sort(sorted)
	add := make(intervals, 0, len(sorted))
	for _, i := range slices.Compact(sorted) {
		add = append(add, interval{i, i})
	}
	return oi.merge(add)
}

func (oi intervals) merge(other intervals) intervals {
	all := append(slices.Clone(oi), other...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].first < all[j].first })
	var out intervals
	for _, iv := range all {
		if n := len(out); n > 0 && iv.first <= out[n-1].last+1 {
			out[n-1].last = max(out[n-1].last, iv.last)
			continue
		}
		out = append(out, iv)
	}
	return out
}

func (oi intervals) total() int {
	n := 0
	for _, iv := range oi {
		n += iv.last - iv.first + 1
	}
	return n
}

func (oi intervals) has(ix int) bool {
	i := sort.Search(len(oi), func(i int) bool { return oi[i].last >= ix })
	return i < len(oi) && oi[i].first <= ix
}

// String formats as upstream: two adjacent indexes are "3,4", three or more
// "3-5".
func (oi intervals) String() string {
	var b strings.Builder
	for _, iv := range oi {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(iv.first))
		switch {
		case iv.last == iv.first+1:
			b.WriteString("," + strconv.Itoa(iv.last))
		case iv.last > iv.first:
			b.WriteString("-" + strconv.Itoa(iv.last))
		}
	}
	return b.String()
}

// completionIndex is the pod's batch.kubernetes.io/job-completion-index
// annotation, or noIndex.
func completionIndex(pod *corev1.Pod) int {
	v, ok := pod.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		return noIndex
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 {
		return noIndex
	}
	return i
}

// validIndex: an Indexed Job's pod whose index is in range.
func validIndex(job *batchv1.Job, pod *corev1.Pod) bool {
	ix := completionIndex(pod)
	return ix != noIndex && ix < int(completions(job))
}

func indexesOf(pods []*corev1.Pod) []int {
	var out []int
	for _, p := range pods {
		if ix := completionIndex(p); ix != noIndex {
			out = append(out, ix)
		}
	}
	return out
}

// succeededIndexes returns the indexes already in status and those plus the
// indexes of succeeded pods still carrying the tracking finalizer.
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (prev, now intervals) {
	prev = parseIntervals(job.Status.CompletedIndexes, int(completions(job)))
	var ix []int
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded && validIndex(job, p) && hasTrackingFinalizer(p) {
			ix = append(ix, completionIndex(p))
		}
	}
	return prev, prev.with(ix...)
}

// failedIndexes (backoffLimitPerIndex): the indexes in status and those
// whose pod failed past the per-index limit or matched a FailIndex rule.
func failedIndexes(job *batchv1.Job, pods []*corev1.Pod) intervals {
	var prev intervals
	if job.Status.FailedIndexes != nil {
		prev = parseIntervals(*job.Status.FailedIndexes, int(completions(job)))
	}
	var ix []int
	for _, p := range pods {
		if validIndex(job, p) && hasTrackingFinalizer(p) && indexFailed(job, p) {
			ix = append(ix, completionIndex(p))
		}
	}
	return prev.with(ix...)
}

func indexFailed(job *batchv1.Job, pod *corev1.Pod) bool {
	if !isPodFailed(pod, job) {
		return false
	}
	counted := true
	if job.Spec.PodFailurePolicy != nil {
		_, countFailed, action := matchPodFailurePolicy(job.Spec.PodFailurePolicy, pod)
		if action != nil && *action == batchv1.PodFailurePolicyActionFailIndex {
			return true
		}
		counted = countFailed
	}
	return counted && annotationInt(pod, batchv1.JobIndexFailureCountAnnotation) >= *job.Spec.BackoffLimitPerIndex
}

func annotationInt(pod *corev1.Pod, key string) int32 {
	v, err := strconv.ParseInt(pod.Annotations[key], 10, 32)
	if err != nil || v < 0 {
		return 0
	}
	return int32(v)
}

func absoluteIndexFailures(pod *corev1.Pod) int32 {
	return annotationInt(pod, batchv1.JobIndexFailureCountAnnotation) + annotationInt(pod, batchv1.JobIndexIgnoredFailureCountAnnotation)
}

// pendingIndexes returns up to count indexes below completions that are
// neither succeeded, active, failed, nor (with podReplacementPolicy Failed)
// held by a terminating pod.
func pendingIndexes(sc *syncCtx, count int) []int {
	if count <= 0 {
		return nil
	}
	taken := sc.succeededIdx.with(indexesOf(sc.active)...)
	if onlyReplaceFailedPods(sc.job) {
		taken = taken.with(indexesOf(terminatingPods(sc.pods))...)
	}
	taken = taken.merge(sc.failedIdx)
	var out []int
	for ix := 0; ix < int(completions(sc.job)) && len(out) < count; ix++ {
		if !taken.has(ix) {
			out = append(out, ix)
		}
	}
	return out
}

// lastFailedPerIndex (backoffLimitPerIndex): for each index neither
// succeeded, failed nor active, the latest failed pod still holding its
// finalizer. Its removal waits until the replacement carries the failure
// count forward.
func lastFailedPerIndex(sc *syncCtx) map[int]*corev1.Pod {
	active := map[int]bool{}
	for _, ix := range indexesOf(sc.active) {
		active[ix] = true
	}
	out := map[int]*corev1.Pod{}
	for _, p := range sc.pods {
		if !hasTrackingFinalizer(p) || sc.expectedRmFinalizers[p.UID] || !validIndex(sc.job, p) || !isPodFailed(p, sc.job) {
			continue
		}
		ix := completionIndex(p)
		if sc.succeededIdx.has(ix) || sc.failedIdx.has(ix) || active[ix] {
			continue
		}
		if last, ok := out[ix]; !ok || (absoluteIndexFailures(last) <= absoluteIndexFailures(p) && !finishedTime(p).Before(finishedTime(last))) {
			out[ix] = p
		}
	}
	return out
}

// indexFailureCounts are the failure annotations of the pod replacing
// replaced (nil: the first pod of its index).
func indexFailureCounts(job *batchv1.Job, replaced *corev1.Pod) (failures, ignored int32) {
	if replaced == nil {
		return 0, 0
	}
	failures = annotationInt(replaced, batchv1.JobIndexFailureCountAnnotation)
	ignored = annotationInt(replaced, batchv1.JobIndexIgnoredFailureCountAnnotation)
	if _, countFailed, _ := matchPodFailurePolicy(job.Spec.PodFailurePolicy, replaced); countFailed {
		failures++
	} else {
		ignored++
	}
	return failures, ignored
}

// duplicateIndexPods returns, for an Indexed Job, the active pods to delete
// whatever the parallelism: those without a valid index and all but the
// most valuable pod of each repeated index.
func duplicateIndexPods(job *batchv1.Job, pods []*corev1.Pod) (rm, keep []*corev1.Pod) {
	byIndex := map[int][]*corev1.Pod{}
	for _, p := range pods {
		if !validIndex(job, p) {
			rm = append(rm, p)
			continue
		}
		ix := completionIndex(p)
		byIndex[ix] = append(byIndex[ix], p)
	}
	ixs := make([]int, 0, len(byIndex))
	for ix := range byIndex {
		ixs = append(ixs, ix)
	}
	slices.Sort(ixs)
	for _, ix := range ixs {
		same := byIndex[ix]
		sortLeastValuableFirst(same)
		rm = append(rm, same[:len(same)-1]...)
		keep = append(keep, same[len(same)-1])
	}
	return rm, keep
}

// addIndex makes template the one of completion index ix: annotation and
// label, hostname <job>-<ix>.
func addIndex(template *corev1.PodTemplateSpec, jobName string, ix int) {
	if template.Annotations == nil {
		template.Annotations = map[string]string{}
	}
	if template.Labels == nil {
		template.Labels = map[string]string{}
	}
	template.Annotations[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	template.Labels[batchv1.JobCompletionIndexAnnotation] = strconv.Itoa(ix)
	template.Spec.Hostname = fmt.Sprintf("%s-%d", jobName, ix)
}

// addIndexEnv gives every container JOB_COMPLETION_INDEX through the
// downward API, on the index label as upstream v1.37 does.
func addIndexEnv(template *corev1.PodTemplateSpec) {
	add := func(c *corev1.Container) {
		for _, e := range c.Env {
			if e.Name == completionIndexEnvName {
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: completionIndexEnvName, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)},
		}})
	}
	for i := range template.Spec.InitContainers {
		add(&template.Spec.InitContainers[i])
	}
	for i := range template.Spec.Containers {
		add(&template.Spec.Containers[i])
	}
}

// generateNameWithIndex is "<job>-<ix>-", the job name cut so that the
// prefix fits.
func generateNameWithIndex(jobName string, ix int) string {
	suffix := "-" + strconv.Itoa(ix) + "-"
	prefix := jobName + suffix
	if len(prefix) > maxGeneratedNameLength {
		prefix = prefix[:maxGeneratedNameLength-len(suffix)] + suffix
	}
	return prefix
}
