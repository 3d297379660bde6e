package ttlafterfinished

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestControllerAgainstAnAPIServer: a Job with ttlSecondsAfterFinished 30
// whose Complete condition is written through the status subresource is
// left alone 10 s after it finished (and queued for its expiry), and
// deleted with foreground propagation once the controller's clock passes
// the TTL.
func TestControllerAgainstAnAPIServer(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)

	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: "default"},
		Spec: batchv1.JobSpec{
			TTLSecondsAfterFinished: ptr.To[int32](30),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
			}},
		},
	}
	job, err := client.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	finished := metav1.NewTime(time.Now().Truncate(time.Second))
	job.Status = batchv1.JobStatus{
		StartTime:      &metav1.Time{Time: finished.Add(-5 * time.Second)},
		CompletionTime: &finished,
		Succeeded:      1,
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: finished},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: batchv1.JobReasonCompletionsReached, LastTransitionTime: finished},
		},
	}
	if job, err = client.BatchV1().Jobs("default").UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("writing the Complete condition: %v", err)
	}

	clk := clocktesting.NewFakeClock(finished.Add(10 * time.Second))
	factory := informers.NewSharedInformerFactory(client, 0)
	c := NewWithClock(client, factory, clk)
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	within := func(what string, cond func(ctx context.Context) (bool, error)) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 20*time.Second, true, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// Queued for its expiry: a timer on the fake clock besides the queue's
	// heartbeat ticker. Only a sync that decided to wait sets one.
	within("the Job is queued for its expiry", func(context.Context) (bool, error) { return clk.Waiters() >= 2, nil })
	got, err := client.BatchV1().Jobs("default").Get(ctx, "once", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("got %v (error %v) 10 s after the Job finished, want it untouched until its TTL of 30 s", got.DeletionTimestamp, err)
	}

	clk.Step(20 * time.Second)
	within("the expired Job is deleted, its pods first", func(ctx context.Context) (bool, error) {
		got, err := client.BatchV1().Jobs("default").Get(ctx, "once", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, errors.New("the Job is gone at once, want a foreground deletion waiting on the garbage collector")
		}
		if err != nil {
			return false, err
		}
		return got.DeletionTimestamp != nil && slices.Contains(got.Finalizers, metav1.FinalizerDeleteDependents) && got.UID == job.UID, nil
	})
}
