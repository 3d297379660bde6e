//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestJobCompletesAfterAFailure runs a Job of five completions, two at a
// time, on the lab's agents. The nodes share the host's filesystem, so a
// hostPath directory makes exactly one pod fail (the first to create the
// marker with an atomic mkdir): the Job backs off, replaces it, and
// completes with five successes and one failure, every pod ended by its
// agent (restartPolicy Never: no restart) and released by the controller.
func TestJobCompletesAfterAFailure(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	job := sharedDirJob(t, "flaky", "sleep 2; if mkdir /shared/failed-once 2>/dev/null; then echo failing; exit 3; fi; echo done")
	job.Spec.Completions, job.Spec.Parallelism, job.Spec.BackoffLimit = ptr(int32(5)), ptr(int32(2)), ptr(int32(3))
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	maxActive := 0
	eventually(t, 90*time.Second, "Job flaky complete", func() error {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=flaky"})
		if err != nil {
			return err
		}
		active := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				active++
			}
		}
		maxActive = max(maxActive, active)
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "flaky", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("succeeded %d failed %d active %d", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	})
	if maxActive > 2 {
		t.Errorf("saw %d pods active at once, want at most parallelism 2", maxActive)
	}
	j, err := cs.BatchV1().Jobs(ns).Get(ctx, "flaky", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status.Succeeded != 5 || j.Status.Failed != 1 || j.Status.Active != 0 {
		t.Errorf("got succeeded %d failed %d active %d, want 5 1 0", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	}
	var conds []string
	for _, c := range j.Status.Conditions {
		conds = append(conds, string(c.Type)+"/"+c.Reason)
	}
	if want := []string{"SuccessCriteriaMet/CompletionsReached", "Complete/CompletionsReached"}; !slices.Equal(conds, want) {
		t.Errorf("got conditions %v, want %v", conds, want)
	}
	if j.Status.CompletionTime == nil {
		t.Error("no completionTime")
	}

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=flaky"})
	if err != nil {
		t.Fatal(err)
	}
	phases := map[corev1.PodPhase]int{}
	for _, p := range pods.Items {
		phases[p.Status.Phase]++
		if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod %s kept the tracking finalizer", p.Name)
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.RestartCount != 0 {
				t.Errorf("pod %s: container restarted %d times under restartPolicy Never", p.Name, s.RestartCount)
			}
			if p.Status.Phase == corev1.PodFailed && (s.State.Terminated == nil || s.State.Terminated.ExitCode != 3) {
				t.Errorf("failed pod %s: got state %+v, want terminated with exit code 3", p.Name, s.State)
			}
		}
	}
	if phases[corev1.PodSucceeded] != 5 || phases[corev1.PodFailed] != 1 || len(pods.Items) != 6 {
		t.Errorf("got pods by phase %v (%d pods), want 5 Succeeded and 1 Failed", phases, len(pods.Items))
	}
	out, err := ctl("get", "-n", ns, "jobs")
	if err != nil || !strings.Contains(out, "5/5") {
		t.Errorf("ctl get jobs: %v\n%s", err, out)
	}
}

// TestEvictedJobPodsIgnoredByPolicy is the conformance spec on pod
// failure policies and DisruptionTarget: a Job's three running pods are
// evicted, a rule ignores failures with the DisruptionTarget condition, so
// the Job makes new pods (which find their index's marker and succeed)
// and completes. The evicted pods must go: the agent writes their terminal
// status before deleting them, and the Job controller releases them from
// its tracking finalizer on that status.
func TestEvictedJobPodsIgnoredByPolicy(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	// sh ignores SIGTERM as PID 1: the agent kills it after the grace period.
	job := sharedDirJob(t, "evicted", "[ -e /shared/$JOB_COMPLETION_INDEX ] && exit 0; touch /shared/$JOB_COMPLETION_INDEX; sleep 1000000")
	job.Spec.Completions, job.Spec.Parallelism, job.Spec.BackoffLimit = ptr(int32(3)), ptr(int32(3)), ptr(int32(0))
	job.Spec.CompletionMode = ptr(batchv1.IndexedCompletion)
	job.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{
		Action:          batchv1.PodFailurePolicyActionIgnore,
		OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}},
	}}}
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var running []corev1.Pod
	eventually(t, 90*time.Second, "three running pods", func() error {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=evicted", FieldSelector: "status.phase=Running"})
		if err != nil {
			return err
		}
		if len(pods.Items) != 3 {
			return fmt.Errorf("%d running", len(pods.Items))
		}
		running = pods.Items
		return nil
	})
	for _, p := range running {
		if err := cs.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns}}); err != nil {
			t.Fatalf("evicting %s: %v", p.Name, err)
		}
	}
	for _, p := range running {
		eventually(t, 30*time.Second, "evicted pod "+p.Name+" gone", func() error {
			got, err := cs.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			return fmt.Errorf("still there: phase %s, finalizers %v", got.Status.Phase, got.Finalizers)
		})
	}
	eventually(t, 90*time.Second, "Job evicted complete", func() error {
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, "evicted", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("job failed: %s: %s", c.Reason, c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				if j.Status.Succeeded != 3 || j.Status.Failed != 0 {
					t.Errorf("succeeded %d failed %d, want 3 and 0 (the evictions ignored)", j.Status.Succeeded, j.Status.Failed)
				}
				return nil
			}
		}
		return fmt.Errorf("succeeded %d failed %d active %d", j.Status.Succeeded, j.Status.Failed, j.Status.Active)
	})
}

// sharedDirJob is a Job whose pods (toolbox, restartPolicy Never, 1 s
// grace) run script with /shared, a hostPath directory of the test: the
// lab's nodes share the host's filesystem, so its pods can leave marks
// for each other.
func sharedDirJob(t *testing.T, name, script string) *batchv1.Job {
	shared := filepath.Join(t.TempDir(), "shared")
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: ptr(int64(1)),
				Volumes: []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: shared, Type: ptr(corev1.HostPathDirectoryOrCreate)}}}},
				Containers: []corev1.Container{{
					Name: "work", Image: "minik8s/toolbox:latest",
					Command:      []string{"sh", "-c", script},
					VolumeMounts: []corev1.VolumeMount{{Name: "shared", MountPath: "/shared"}},
				}},
			}},
		},
	}
}
