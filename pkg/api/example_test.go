package api_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"minik8s/pkg/api"
)

func ExampleLookup() {
	r, ok := api.Lookup("apps", "v1", "deployments")
	if !ok {
		fmt.Println("not served")
		return
	}
	fmt.Println(r.Kind, r.ShortNames, r.Namespaced, r.Subresources)

	n, _ := api.LookupKind(schema.GroupVersionKind{Version: "v1", Kind: "Node"})
	fmt.Println(n.Plural, n.Namespaced)

	_, ok = api.Lookup("", "v1", "widgets")
	fmt.Println(ok)
	// Output:
	// Deployment [deploy] true [status scale]
	// nodes false
	// false
}

// A create as the API server runs it: defaults, then what a client may not
// set, then validation, whose field paths go into the 422 body.
func ExampleStrategy() {
	r, _ := api.Lookup("", "v1", "pods")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "minik8s/echo:latest"},
			{Name: "app", Image: ""},
		}},
	}
	ctx := context.Background()
	r.Strategy.Default(pod)
	r.Strategy.PrepareForCreate(ctx, pod)
	fmt.Println(pod.Spec.RestartPolicy, pod.Spec.Containers[0].ImagePullPolicy, pod.Status.Phase, pod.Generation)
	for _, err := range r.Strategy.Validate(ctx, pod) {
		fmt.Println(err.Field, err.Type)
	}
	// Output:
	// Always Always Pending 1
	// spec.containers[1].name Duplicate value
	// spec.containers[1].image Required value
}
