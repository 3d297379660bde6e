package cronjob_test

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"minik8s/pkg/controllers/cronjob"
)

// ExampleNewWithClock: an hourly CronJob created at 09:30, and a clock just
// past 10:00: the controller starts the 10:00 Job, named after the minute.
func ExampleNewWithClock() {
	created := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	client := fake.NewClientset(&batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "hourly", Namespace: "default", UID: "u1", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
			}}}},
		},
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 5, 10, 0, 5, 0, time.UTC))
	c, err := cronjob.NewWithClock(client, factory, record.NewFakeRecorder(10), clk)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)

	var jobs *batchv1.JobList
	_ = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		jobs, err = client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(jobs.Items) > 0, nil
	})
	for _, j := range jobs.Items {
		fmt.Println(j.Name, j.Annotations[batchv1.CronJobScheduledTimestampAnnotation])
	}
	// Output: hourly-29460120 2026-01-05T10:00:00Z
}
