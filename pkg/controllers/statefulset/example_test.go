package statefulset_test

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"minik8s/pkg/controllers/statefulset"
)

func ExampleNew() {
	replicas := int32(3)
	lbl := map[string]string{"app": "web"}
	client := fake.NewClientset(&appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "web-uid"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := statefulset.New(client, factory, record.NewFakeRecorder(100))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)

	// OrderedReady: web-0 first, and nothing more until it is Ready.
	var pod *corev1.Pod
	_ = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := client.CoreV1().Pods("default").Get(ctx, "web-0", metav1.GetOptions{})
		pod = p
		return err == nil, nil
	})
	fmt.Println(pod.Name, pod.Spec.Hostname+"."+pod.Spec.Subdomain, pod.Labels["apps.kubernetes.io/pod-index"])
	// Output: web-0 web-0.web 0
}
