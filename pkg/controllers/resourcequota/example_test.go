package resourcequota_test

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"minik8s/pkg/controllers/resourcequota"
)

// The controller writes what a namespace's pods use into its quota.
func ExampleNew() {
	client := fake.NewClientset(
		&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "team"},
			Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("10")}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := resourcequota.New(client, factory, nil)
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)
	for {
		rq, _ := client.CoreV1().ResourceQuotas("team").Get(ctx, "compute", metav1.GetOptions{})
		if used, ok := rq.Status.Used[corev1.ResourcePods]; ok {
			fmt.Printf("pods: %s of %s\n", used.String(), rq.Status.Hard.Pods().String())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output: pods: 1 of 10
}
