package cronjob

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestControllerAgainstAnAPIServer: a "* * * * *" CronJob on a real
// apiserver, the controller's clock set just past the next minute: it
// creates that minute's Job (accepted by the apiserver's Job validation)
// and records it in status; when the clock reaches the following minute,
// the delaying queue wakes it for exactly one more Job.
func TestControllerAgainstAnAPIServer(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)

	cj := newCronJob("tick", "* * * * *")
	cj.UID, cj.CreationTimestamp = "", metav1.Time{}
	cj.Spec.JobTemplate.Labels = map[string]string{"app": "tick"}
	cj, err := client.BatchV1().CronJobs("default").Create(ctx, cj, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := cj.CreationTimestamp.Truncate(time.Minute).Add(time.Minute)
	clk := clocktesting.NewFakeClock(first.Add(time.Second))

	factory := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c, err := NewWithClock(client, factory, rec, clk)
	if err != nil {
		t.Fatal(err)
	}
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
	scheduled := func(at time.Time) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			got, err := client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return got.Status.LastScheduleTime != nil && got.Status.LastScheduleTime.Time.Equal(at), nil
		}
	}

	within("the first Job is recorded in status", scheduled(first))
	job, err := client.BatchV1().Jobs("default").Get(ctx, jobName(cj, first), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting the first Job: %v", err)
	}
	if got, want := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation], first.UTC().Format(time.RFC3339); got != want {
		t.Errorf("got %s %q, want %q", batchv1.CronJobScheduledTimestampAnnotation, got, want)
	}
	if !metav1.IsControlledBy(job, cj) || job.Labels["app"] != "tick" {
		t.Errorf("got owners %+v labels %v, want the CronJob as controller and the template's labels", job.OwnerReferences, job.Labels)
	}
	got, err := client.BatchV1().CronJobs("default").Get(ctx, "tick", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Active) != 1 || got.Status.Active[0].UID != job.UID {
		t.Errorf("got active %+v, want the first Job", got.Status.Active)
	}

	// The key now waits in the delaying queue: a timer on the fake clock
	// besides the queue's heartbeat ticker.
	within("the CronJob is queued for the next minute", func(context.Context) (bool, error) { return clk.Waiters() >= 2, nil })
	clk.Step(time.Minute)
	second := first.Add(time.Minute)
	within("the second Job is recorded in status", scheduled(second))
	jobs, err := client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range jobs.Items {
		names = append(names, j.Name)
	}
	if want := []string{jobName(cj, first), jobName(cj, second)}; len(names) != 2 || names[0] != want[0] || names[1] != want[1] {
		t.Errorf("got Jobs %v, want %v", names, want)
	}
	created := 0
	for _, r := range reasons(rec) {
		if r == "SuccessfulCreate" {
			created++
		}
	}
	if created != 2 {
		t.Errorf("got %d SuccessfulCreate events, want 2", created)
	}
}
