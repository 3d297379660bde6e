package job_test

import (
	"context"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"minik8s/pkg/controllers/job"
)

// ExampleNew runs the controller on a Job of three completions, two at a
// time: it starts two pods, each held by the tracking finalizer until the
// controller has counted it.
func ExampleNew() {
	lbl := map[string]string{batchv1.ControllerUidLabel: "uid-1", batchv1.JobNameLabel: "pi"}
	client := fake.NewClientset(&batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: "uid-1"},
		Spec: batchv1.JobSpec{
			Completions: ptr.To[int32](3), Parallelism: ptr.To[int32](2), BackoffLimit: ptr.To[int32](6),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "pi", Image: "perl"}}},
			},
		},
	})
	n := 0
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		n++ // the fake does not generate names
		p.Name = fmt.Sprintf("%s%d", p.GenerateName, n)
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := job.New(client, factory, record.NewFakeRecorder(100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)

	for {
		pods, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if len(pods.Items) == 2 {
			sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
			for _, p := range pods.Items {
				fmt.Println(p.Name, metav1.GetControllerOf(&p).Kind, p.Finalizers)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output:
	// pi-1 Job [batch.kubernetes.io/job-tracking]
	// pi-2 Job [batch.kubernetes.io/job-tracking]
}
