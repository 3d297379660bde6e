package job

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestSyncCreatesUpToParallelism(t *testing.T) {
	five, two, three := ptr.To[int32](5), ptr.To[int32](2), ptr.To[int32](3)
	base := newJob(five, two)
	tests := []struct {
		name       string
		job        *batchv1.Job
		pods       func(j *batchv1.Job) []*corev1.Pod
		wantCreate int
		wantActive int32
	}{
		{"starts parallelism pods", base, nil, 2, 2},
		{"parallelism respected", base, func(j *batchv1.Job) []*corev1.Pod {
			return []*corev1.Pod{newPod(j, "a", corev1.PodRunning), newPod(j, "b", corev1.PodPending)}
		}, 0, 2},
		{"never more than the completions left", newJob(five, two, withStatus(4, 0)), nil, 1, 1},
		{"a terminating pod is replaced by default", base, func(j *batchv1.Job) []*corev1.Pod {
			// Counted as failed; its back-off has passed.
			return []*corev1.Pod{newPod(j, "a", corev1.PodRunning), newPod(j, "b", corev1.PodRunning, deletedAt(t0.Add(-time.Hour)))}
		}, 1, 2},
		{"podReplacementPolicy Failed waits for terminating pods", newJob(five, two, func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		}), func(j *batchv1.Job) []*corev1.Pod {
			return []*corev1.Pod{newPod(j, "a", corev1.PodRunning), newPod(j, "b", corev1.PodRunning, deleting())}
		}, 0, 1},
		{"no completions: parallelism pods", newJob(nil, three), nil, 3, 3},
		{"no completions: none after a success", newJob(nil, three), func(j *batchv1.Job) []*corev1.Pod {
			return []*corev1.Pod{newPod(j, "a", corev1.PodRunning), newPod(j, "b", corev1.PodSucceeded)}
		}, 0, 1},
		{"suspended: none", newJob(five, two, suspendedJob), nil, 0, 0},
		{"managed by another controller: untouched", newJob(five, two, func(j *batchv1.Job) {
			j.Spec.ManagedBy = ptr.To("example.com/queue")
		}), nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pods []*corev1.Pod
			if tt.pods != nil {
				pods = tt.pods(tt.job)
			}
			f := newFixture(t, objects(tt.job, pods...)...)
			f.sync()
			if got := count(f.client.Actions(), "create", "pods"); got != tt.wantCreate {
				t.Errorf("got %d pods created, want %d", got, tt.wantCreate)
			}
			if got := f.job().Status.Active; got != tt.wantActive {
				t.Errorf("got status.active %d, want %d", got, tt.wantActive)
			}
		})
	}
}

func TestCreatedPodsCarryOwnerLabelsAndFinalizer(t *testing.T) {
	job := newJob(ptr.To[int32](1), ptr.To[int32](1))
	f := newFixture(t, job)
	f.sync()
	pods := f.pods()
	if len(pods) != 1 {
		t.Fatalf("got %d pods, want 1", len(pods))
	}
	p := pods[0]
	if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != job.UID || ref.Kind != "Job" || !ptr.Deref(ref.BlockOwnerDeletion, false) {
		t.Errorf("got controller reference %+v, want the Job's", ref)
	}
	for _, k := range []string{batchv1.ControllerUidLabel, batchv1.JobNameLabel, "controller-uid", "job-name"} {
		if p.Labels[k] == "" {
			t.Errorf("pod lacks label %s: %v", k, p.Labels)
		}
	}
	if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Errorf("got finalizers %v, want %s", p.Finalizers, batchv1.JobTrackingFinalizer)
	}
	if p.GenerateName != "pi-" {
		t.Errorf("got generateName %q, want pi-", p.GenerateName)
	}
	if !f.hasEvent("Normal SuccessfulCreate Created pod: pi-") {
		t.Error("no SuccessfulCreate event")
	}
}

func TestExpectationsPreventDoubleCreation(t *testing.T) {
	f := newFixture(t, newJob(ptr.To[int32](5), ptr.To[int32](2)))
	f.sync()
	f.sync() // the cache has not seen the two pods yet
	if got := count(f.client.Actions(), "create", "pods"); got != 2 {
		t.Errorf("got %d pods created, want 2", got)
	}
}

func TestIndexedJob(t *testing.T) {
	job := newJob(ptr.To[int32](5), ptr.To[int32](3), indexed)
	pods := []*corev1.Pod{
		newPod(job, "pi-0-a", corev1.PodSucceeded, withIndex(0)),
		newPod(job, "pi-1-a", corev1.PodRunning, withIndex(1)),
		newPod(job, "pi-3-a", corev1.PodSucceeded, withIndex(3), noFinalizer()),
	}
	job.Status.CompletedIndexes = "3"
	job.Status.Succeeded = 1
	f := newFixture(t, objects(job, pods...)...)
	f.sync()
	got := f.job()
	if got.Status.CompletedIndexes != "0,3" || got.Status.Succeeded != 2 {
		t.Errorf("got completedIndexes %q succeeded %d, want \"0,3\" 2", got.Status.CompletedIndexes, got.Status.Succeeded)
	}
	// Three active wanted: index 1 runs; 2 and 4 are created.
	var created []corev1.Pod
	for _, p := range f.pods() {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "2" || p.Annotations[batchv1.JobCompletionIndexAnnotation] == "4" {
			created = append(created, p)
		}
	}
	if len(created) != 2 {
		t.Fatalf("got %d pods for indexes 2 and 4, want 2: %v", len(created), f.pods())
	}
	for _, p := range created {
		ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
		if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
			t.Errorf("pod %s: got index label %q, want %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix)
		}
		if want := "pi-" + ix; p.Spec.Hostname != want {
			t.Errorf("pod %s: got hostname %q, want %q", p.Name, p.Spec.Hostname, want)
		}
		if want := "pi-" + ix + "-"; p.GenerateName != want {
			t.Errorf("got generateName %q, want %q", p.GenerateName, want)
		}
		env := p.Spec.Containers[0].Env
		want := "metadata.labels['batch.kubernetes.io/job-completion-index']"
		if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom == nil || env[0].ValueFrom.FieldRef.FieldPath != want {
			t.Errorf("pod %s: got env %+v, want JOB_COMPLETION_INDEX from %s", p.Name, env, want)
		}
	}
}

func TestIndexedJobDeletesDuplicateIndexes(t *testing.T) {
	job := newJob(ptr.To[int32](3), ptr.To[int32](3), indexed)
	pods := []*corev1.Pod{
		newPod(job, "pi-0-a", corev1.PodRunning, withIndex(0), ready()),
		newPod(job, "pi-0-b", corev1.PodPending, withIndex(0)),
		newPod(job, "pi-1-a", corev1.PodRunning, withIndex(1)),
		newPod(job, "pi-2-a", corev1.PodRunning, withIndex(2)),
	}
	f := newFixture(t, objects(job, pods...)...)
	f.sync()
	var names []string
	for _, p := range f.pods() {
		names = append(names, p.Name)
	}
	if want := []string{"pi-0-a", "pi-1-a", "pi-2-a"}; !slices.Equal(names, want) {
		t.Errorf("got pods %v, want %v", names, want)
	}
}

func TestCompletesAtNSuccesses(t *testing.T) {
	job := newJob(ptr.To[int32](3), ptr.To[int32](2), started(t0.Add(-time.Minute)), withStatus(1, 0))
	pods := []*corev1.Pod{
		newPod(job, "a", corev1.PodSucceeded),
		newPod(job, "b", corev1.PodSucceeded),
		newPod(job, "old", corev1.PodSucceeded, noFinalizer()), // the one already counted
	}
	f := newFixture(t, objects(job, pods...)...)
	f.sync()
	got := f.job()
	if got.Status.Succeeded != 3 || got.Status.Active != 0 {
		t.Errorf("got succeeded %d active %d, want 3 0", got.Status.Succeeded, got.Status.Active)
	}
	want := []string{"SuccessCriteriaMet=True/CompletionsReached", "Complete=True/CompletionsReached"}
	if c := conditions(got); !slices.Equal(c, want) {
		t.Errorf("got conditions %v, want %v", c, want)
	}
	if got.Status.CompletionTime == nil || !got.Status.CompletionTime.Time.Equal(t0) {
		t.Errorf("got completionTime %v, want %v", got.Status.CompletionTime, t0)
	}
	if u := got.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("got uncounted %+v, want none", u)
	}
	for _, p := range f.pods() {
		if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod %s still has the tracking finalizer", p.Name)
		}
	}
	if !f.hasEvent("Normal Completed Job completed") {
		t.Error("no Completed event")
	}
	if got := count(f.client.Actions(), "create", "pods"); got != 0 {
		t.Errorf("got %d pods created, want 0", got)
	}
}

func TestFailedPodIsCountedAndReleased(t *testing.T) {
	job := newJob(ptr.To[int32](3), ptr.To[int32](1), started(t0.Add(-time.Hour)))
	failed := newPod(job, "a", corev1.PodFailed, exitCode(1, t0.Add(-time.Hour)))
	f := newFixture(t, objects(job, failed)...)
	f.sync()
	got := f.job()
	if got.Status.Failed != 1 {
		t.Errorf("got failed %d, want 1", got.Status.Failed)
	}
	p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "a", metav1.GetOptions{})
	if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Error("failed pod still has the tracking finalizer after being counted")
	}
	// The failure was an hour ago: the back-off is over, a replacement starts.
	if got := count(f.client.Actions(), "create", "pods"); got != 1 {
		t.Errorf("got %d pods created, want 1", got)
	}
}

func TestPodDeletedEarlyIsStillCounted(t *testing.T) {
	job := newJob(ptr.To[int32](2), ptr.To[int32](2), started(t0))
	// A previous sync recorded a's success, then a was deleted before its
	// finalizer removal was seen; b is being deleted while running.
	job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a-uid"}}
	b := newPod(job, "b", corev1.PodRunning, deleting())
	f := newFixture(t, objects(job, b)...)
	f.sync()
	got := f.job()
	if got.Status.Succeeded != 1 || got.Status.Failed != 1 {
		t.Errorf("got succeeded %d failed %d, want 1 1", got.Status.Succeeded, got.Status.Failed)
	}
	if u := got.Status.UncountedTerminatedPods; len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("got uncounted %+v, want none", u)
	}
}

func TestBackoffLimitExceeded(t *testing.T) {
	job := newJob(ptr.To[int32](5), ptr.To[int32](2), started(t0.Add(-time.Minute)), func(j *batchv1.Job) {
		j.Spec.BackoffLimit = ptr.To[int32](1)
	})
	pods := []*corev1.Pod{
		newPod(job, "a", corev1.PodFailed, exitCode(1, t0.Add(-30*time.Second))),
		newPod(job, "b", corev1.PodFailed, exitCode(1, t0.Add(-20*time.Second))),
		newPod(job, "c", corev1.PodRunning),
	}
	f := newFixture(t, objects(job, pods...)...)
	f.syncAndRefresh()
	got := f.job()
	if want := []string{"FailureTarget=True/BackoffLimitExceeded"}; !slices.Equal(conditions(got), want) {
		t.Errorf("after the first sync got conditions %v, want %v (the running pod is still terminating)", conditions(got), want)
	}
	f.syncAndRefresh()
	got = f.job()
	want := []string{"FailureTarget=True/BackoffLimitExceeded", "Failed=True/BackoffLimitExceeded"}
	if !slices.Equal(conditions(got), want) {
		t.Fatalf("got conditions %v, want %v", conditions(got), want)
	}
	if msg := got.Status.Conditions[1].Message; msg != "Job has reached the specified backoff limit" {
		t.Errorf("got message %q", msg)
	}
	// The running pod was killed by the failure: it counts too.
	if got.Status.Failed != 3 || got.Status.Active != 0 {
		t.Errorf("got failed %d active %d, want 3 0", got.Status.Failed, got.Status.Active)
	}
	if got.Status.CompletionTime != nil {
		t.Errorf("got completionTime %v on a failed Job", got.Status.CompletionTime)
	}
	if !f.hasEvent("Warning BackoffLimitExceeded Job has reached the specified backoff limit") {
		t.Error("no BackoffLimitExceeded event")
	}
}

func TestActiveDeadline(t *testing.T) {
	job := newJob(ptr.To[int32](5), ptr.To[int32](1), started(t0.Add(-11*time.Second)), func(j *batchv1.Job) {
		j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	})
	f := newFixture(t, objects(job, newPod(job, "a", corev1.PodRunning))...)
	f.syncAndRefresh()
	f.syncAndRefresh()
	got := f.job()
	want := []string{"FailureTarget=True/DeadlineExceeded", "Failed=True/DeadlineExceeded"}
	if !slices.Equal(conditions(got), want) {
		t.Fatalf("got conditions %v, want %v", conditions(got), want)
	}
	if msg := got.Status.Conditions[1].Message; msg != "Job was active longer than specified deadline" {
		t.Errorf("got message %q", msg)
	}
	if len(f.pods()) != 0 {
		t.Errorf("got %d pods left, want 0", len(f.pods()))
	}
}

// TestActiveDeadlineRequeue: a Job with time left before its deadline
// asks to be synced again when the deadline passes (no event marks it).
func TestActiveDeadlineRequeue(t *testing.T) {
	job := newJob(ptr.To[int32](5), ptr.To[int32](1), started(t0.Add(-4*time.Second)), func(j *batchv1.Job) {
		j.Spec.ActiveDeadlineSeconds = ptr.To[int64](10)
	})
	f := newFixture(t, objects(job, newPod(job, "a", corev1.PodRunning))...)
	if res := f.sync(); res.RequeueAfter != 6*time.Second {
		t.Errorf("got a sync again after %s, want 6s", res.RequeueAfter)
	}
}

func TestBackoffDelaysReplacement(t *testing.T) {
	job := newJob(ptr.To[int32](2), ptr.To[int32](1), started(t0.Add(-time.Minute)))
	f := newFixture(t, objects(job, newPod(job, "a", corev1.PodFailed, exitCode(1, t0)))...)
	f.clock.SetTime(t0.Add(5 * time.Second))
	f.syncAndRefresh()
	if got := count(f.client.Actions(), "create", "pods"); got != 0 {
		t.Fatalf("5s after the first failure: got %d pods created, want 0", got)
	}
	f.clock.SetTime(t0.Add(11 * time.Second))
	f.syncAndRefresh()
	if got := count(f.client.Actions(), "create", "pods"); got != 1 {
		t.Errorf("11s after the first failure: got %d pods created, want 1", got)
	}
}

func TestRemainingBackoff(t *testing.T) {
	tests := []struct {
		failures int32
		elapsed  time.Duration
		want     time.Duration
	}{
		{0, 0, 0},
		{1, 0, 10 * time.Second},
		{1, 4 * time.Second, 6 * time.Second},
		{2, 0, 20 * time.Second},
		{3, 0, 40 * time.Second},
		{7, 0, 10 * time.Minute}, // 640 s, capped
		{30, 0, 10 * time.Minute},
		{2, time.Minute, 0},
	}
	for _, tt := range tests {
		f := newFixture(t, newJob(nil, nil))
		last := t0.Add(-tt.elapsed)
		if got := remainingBackoff(f.clock, tt.failures, &last); got != tt.want {
			t.Errorf("%d failures, %v ago: got %v, want %v", tt.failures, tt.elapsed, got, tt.want)
		}
	}
}

func TestPodFailurePolicy(t *testing.T) {
	rule := func(action batchv1.PodFailurePolicyAction, codes ...int32) batchv1.PodFailurePolicyRule {
		return batchv1.PodFailurePolicyRule{Action: action, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
			Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: codes}}
	}
	policy := func(rules ...batchv1.PodFailurePolicyRule) jobOpt {
		return func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: rules}
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed) // the apiserver's default with a policy
			j.Spec.BackoffLimit = ptr.To[int32](0)
		}
	}
	disruption := batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}
	tests := []struct {
		name       string
		opt        jobOpt
		pod        podOpt
		wantConds  []string
		wantMsg    string
		wantFailed int32
	}{
		{"FailJob on an exit code", policy(rule(batchv1.PodFailurePolicyActionFailJob, 42)), exitCode(42, t0),
			[]string{"FailureTarget=True/PodFailurePolicy", "Failed=True/PodFailurePolicy"},
			"Container main for pod default/a failed with exit code 42 matching FailJob rule at index 0", 1},
		{"Ignore does not count", policy(rule(batchv1.PodFailurePolicyActionIgnore, 42)), exitCode(42, t0), nil, "", 0},
		{"Count counts", policy(rule(batchv1.PodFailurePolicyActionIgnore, 1), rule(batchv1.PodFailurePolicyActionCount, 42)), exitCode(42, t0),
			[]string{"FailureTarget=True/BackoffLimitExceeded", "Failed=True/BackoffLimitExceeded"}, "Job has reached the specified backoff limit", 1},
		{"no rule matches: counts", policy(rule(batchv1.PodFailurePolicyActionFailJob, 3)), exitCode(42, t0),
			[]string{"FailureTarget=True/BackoffLimitExceeded", "Failed=True/BackoffLimitExceeded"}, "Job has reached the specified backoff limit", 1},
		{"Ignore on a pod condition", policy(disruption), func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
		}, nil, "", 0},
		{"FailJob on a pod condition", policy(batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailJob,
			OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}}),
			func(p *corev1.Pod) {
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}
			},
			[]string{"FailureTarget=True/PodFailurePolicy", "Failed=True/PodFailurePolicy"},
			"Pod default/a has condition DisruptionTarget matching FailJob rule at index 0", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := newJob(ptr.To[int32](2), ptr.To[int32](1), started(t0), tt.opt)
			f := newFixture(t, objects(job, newPod(job, "a", corev1.PodFailed, tt.pod))...)
			f.syncAndRefresh()
			f.syncAndRefresh()
			got := f.job()
			if !slices.Equal(conditions(got), tt.wantConds) {
				t.Errorf("got conditions %v, want %v", conditions(got), tt.wantConds)
			}
			if tt.wantMsg != "" && len(got.Status.Conditions) > 0 && got.Status.Conditions[0].Message != tt.wantMsg {
				t.Errorf("got message %q, want %q", got.Status.Conditions[0].Message, tt.wantMsg)
			}
			if got.Status.Failed != tt.wantFailed {
				t.Errorf("got failed %d, want %d", got.Status.Failed, tt.wantFailed)
			}
		})
	}
}

func TestBackoffLimitPerIndex(t *testing.T) {
	failIndex := batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionFailIndex, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
		Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}
	job := newJob(ptr.To[int32](3), ptr.To[int32](3), indexed, started(t0), func(j *batchv1.Job) {
		j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
		j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{failIndex}}
	})
	pods := []*corev1.Pod{
		newPod(job, "pi-0-a", corev1.PodSucceeded, withIndex(0)),
		newPod(job, "pi-1-a", corev1.PodFailed, withIndex(1), exitCode(42, t0)),
		newPod(job, "pi-2-a", corev1.PodFailed, withIndex(2), exitCode(1, t0.Add(-time.Hour))),
	}
	f := newFixture(t, objects(job, pods...)...)
	f.syncAndRefresh()
	got := f.job()
	if got.Status.FailedIndexes == nil || *got.Status.FailedIndexes != "1" {
		t.Errorf("got failedIndexes %v, want \"1\"", got.Status.FailedIndexes)
	}
	// Index 2 failed once, below its limit of one: it is retried, the new
	// pod carrying the failure count.
	var retry *corev1.Pod
	for _, p := range f.pods() {
		if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "2" && p.Name != "pi-2-a" {
			retry = &p
		}
	}
	if retry == nil {
		t.Fatalf("index 2 not retried: %v", f.pods())
	}
	if c := retry.Annotations[batchv1.JobIndexFailureCountAnnotation]; c != "1" {
		t.Errorf("got failure count %q on the retry, want 1", c)
	}
	if p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "pi-1-a", metav1.GetOptions{}); slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Error("the failed index's pod kept its finalizer")
	}
}

func TestSuspendAndResume(t *testing.T) {
	job := newJob(ptr.To[int32](4), ptr.To[int32](2), started(t0.Add(-time.Hour)), suspendedJob)
	pods := []*corev1.Pod{newPod(job, "a", corev1.PodRunning, ready()), newPod(job, "b", corev1.PodPending)}
	f := newFixture(t, objects(job, pods...)...)
	f.syncAndRefresh()
	got := f.job()
	if want := []string{"Suspended=True/JobSuspended"}; !slices.Equal(conditions(got), want) {
		t.Errorf("got conditions %v, want %v", conditions(got), want)
	}
	if len(f.pods()) != 0 {
		t.Errorf("got %d pods, want all deleted", len(f.pods()))
	}
	if got.Status.StartTime != nil {
		t.Errorf("got startTime %v on a suspended Job, want none", got.Status.StartTime)
	}
	if got.Status.Failed != 0 || got.Status.Active != 0 {
		t.Errorf("got failed %d active %d, want 0 0 (suspending is not failing)", got.Status.Failed, got.Status.Active)
	}
	if !f.hasEvent("Normal Suspended Job suspended") {
		t.Error("no Suspended event")
	}

	got.Spec.Suspend = ptr.To(false)
	if _, err := f.client.BatchV1().Jobs("default").Update(context.Background(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.refresh()
	f.clock.Step(time.Minute)
	f.syncAndRefresh()
	got = f.job()
	if want := []string{"Suspended=False/JobResumed"}; !slices.Equal(conditions(got), want) {
		t.Errorf("got conditions %v, want %v", conditions(got), want)
	}
	if got.Status.StartTime == nil || !got.Status.StartTime.Time.Equal(t0.Add(time.Minute)) {
		t.Errorf("got startTime %v, want the resume time", got.Status.StartTime)
	}
	if len(f.pods()) != 2 {
		t.Errorf("got %d pods after resuming, want 2", len(f.pods()))
	}
	if !f.hasEvent("Normal Resumed Job resumed") {
		t.Error("no Resumed event")
	}
}

func TestSuccessPolicy(t *testing.T) {
	job := newJob(ptr.To[int32](3), ptr.To[int32](3), indexed, started(t0), func(j *batchv1.Job) {
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr.To("0")}}}
	})
	pods := []*corev1.Pod{
		newPod(job, "pi-0-a", corev1.PodSucceeded, withIndex(0)),
		newPod(job, "pi-1-a", corev1.PodRunning, withIndex(1)),
	}
	f := newFixture(t, objects(job, pods...)...)
	f.syncAndRefresh()
	f.syncAndRefresh()
	got := f.job()
	want := []string{"SuccessCriteriaMet=True/SuccessPolicy", "Complete=True/SuccessPolicy"}
	if !slices.Equal(conditions(got), want) {
		t.Fatalf("got conditions %v, want %v", conditions(got), want)
	}
	if msg := got.Status.Conditions[1].Message; msg != "Matched rules at index 0" {
		t.Errorf("got message %q", msg)
	}
}

func TestUnknownCompletionMode(t *testing.T) {
	f := newFixture(t, newJob(ptr.To[int32](1), ptr.To[int32](1), func(j *batchv1.Job) {
		j.Spec.CompletionMode = ptr.To(batchv1.CompletionMode("Sometimes"))
	}))
	f.sync()
	if got := count(f.client.Actions(), "create", "pods"); got != 0 {
		t.Errorf("got %d pods created, want 0", got)
	}
	if !f.hasEvent("Warning UnknownCompletionMode") {
		t.Error("no UnknownCompletionMode event")
	}
}

func TestAdoptsOrphansWithFinalizer(t *testing.T) {
	job := newJob(ptr.To[int32](1), ptr.To[int32](1))
	orphan := newPod(job, "o", corev1.PodRunning, noFinalizer(), func(p *corev1.Pod) { p.OwnerReferences = nil })
	f := newFixture(t, objects(job, orphan)...)
	f.sync()
	p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "o", metav1.GetOptions{})
	if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != job.UID {
		t.Errorf("orphan not adopted: owner %v", ref)
	}
	if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Errorf("got finalizers %v, want the tracking finalizer", p.Finalizers)
	}
	if got := count(f.client.Actions(), "create", "pods"); got != 0 {
		t.Errorf("got %d pods created, want 0", got)
	}
}

func TestOrphanPodFinalizerRemoved(t *testing.T) {
	job := newJob(ptr.To[int32](1), ptr.To[int32](1))
	orphan := newPod(job, "o", corev1.PodSucceeded, func(p *corev1.Pod) { p.OwnerReferences = nil })
	f := newFixture(t, orphan)
	if err := f.c.syncOrphanPod(context.Background(), "default/o"); err != nil {
		t.Fatal(err)
	}
	p, _ := f.client.CoreV1().Pods("default").Get(context.Background(), "o", metav1.GetOptions{})
	if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Error("orphan kept the tracking finalizer")
	}
}

func TestIntervals(t *testing.T) {
	tests := []struct {
		in   string
		add  []int
		want string
	}{
		{"", nil, ""},
		{"", []int{3, 1, 2}, "1-3"},
		{"1", []int{2}, "1,2"},
		{"0-2,7", []int{4, 5}, "0-2,4,5,7"},
		{"0,2", []int{1}, "0-2"},
		{"5-9", nil, "5-7"}, // beyond completions
	}
	for _, tt := range tests {
		got := parseIntervals(tt.in, 8).with(tt.add...).String()
		if got != tt.want {
			t.Errorf("%q + %v: got %q, want %q", tt.in, tt.add, got, tt.want)
		}
	}
}

func TestSkipsACacheBehindItsOwnStatusWrite(t *testing.T) {
	job := newJob(ptr.To[int32](2), ptr.To[int32](2))
	job.ResourceVersion = "5"
	f := newFixture(t, job)
	f.c.written.Store("default/pi", writtenVersion{uid: job.UID, rv: 7})
	f.sync()
	if got := count(f.client.Actions(), "create", "pods"); got != 0 {
		t.Fatalf("with a stale cache: got %d pods created, want 0", got)
	}
	job.ResourceVersion = "7"
	if err := f.factory.Batch().V1().Jobs().Informer().GetIndexer().Update(job); err != nil {
		t.Fatal(err)
	}
	f.sync()
	if got := count(f.client.Actions(), "create", "pods"); got != 2 {
		t.Errorf("once the cache caught up: got %d pods created, want 2", got)
	}
}
