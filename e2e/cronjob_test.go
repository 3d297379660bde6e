//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCronJobForbidOnTheLab: a CronJob due every minute starts a Job at
// the next minute; its pod outlives the following minute, and with
// concurrencyPolicy Forbid that run is skipped (JobAlreadyActive) rather
// than overlapping. About two minutes of wall time: the schedule's.
func TestCronJobForbidOnTheLab(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick"},
		Spec: batchv1.CronJobSpec{
			Schedule:          "* * * * *",
			ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: ptr(int64(1)),
				Containers:                    []corev1.Container{{Name: "c", Image: "minik8s/toolbox:latest", Command: []string{"sleep", "100"}}},
			}}}},
		},
	}
	if _, err := cs.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	jobs := func() ([]batchv1.Job, error) {
		l, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		return l.Items, nil
	}
	var first batchv1.Job
	eventually(t, 75*time.Second, "the first Job at the next minute", func() error {
		js, err := jobs()
		if err != nil || len(js) != 1 {
			return fmt.Errorf("%d jobs (%v)", len(js), err)
		}
		first = js[0]
		return nil
	})
	if a := first.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]; a == "" {
		t.Errorf("job %s has no scheduled-timestamp annotation", first.Name)
	}
	eventually(t, 30*time.Second, "the Job's pod running", func() error {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + first.Name})
		if err != nil || len(pods.Items) != 1 || pods.Items[0].Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pods %v (%v)", pods, err)
		}
		return nil
	})
	// The next minute comes while the pod still sleeps: no second Job.
	eventually(t, 75*time.Second, "the JobAlreadyActive event of the skipped run", func() error {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=tick,reason=JobAlreadyActive"})
		if err != nil || len(evs.Items) == 0 {
			return fmt.Errorf("no JobAlreadyActive event yet (%v)", err)
		}
		return nil
	})
	js, err := jobs()
	if err != nil || len(js) != 1 || js[0].Name != first.Name {
		t.Errorf("with Forbid and a Job running: got %d jobs (%v), want only %s", len(js), err, first.Name)
	}
	got, err := cs.BatchV1().CronJobs(ns).Get(ctx, "tick", metav1.GetOptions{})
	if err != nil || len(got.Status.Active) != 1 || got.Status.Active[0].Name != first.Name || got.Status.LastScheduleTime == nil {
		t.Errorf("status: got %+v (%v), want %s active and a last schedule time", got.Status, err, first.Name)
	}
	// Stop the schedule before the namespace goes.
	got.Spec.Suspend = ptr(true)
	if _, err := cs.BatchV1().CronJobs(ns).Update(ctx, got, metav1.UpdateOptions{}); err != nil {
		t.Errorf("suspending: %v", err)
	}
}
