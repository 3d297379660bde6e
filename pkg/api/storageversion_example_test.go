package api_test

import (
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"minik8s/pkg/api"
)

// An autoscaling/v1 HorizontalPodAutoscaler is stored as the
// autoscaling/v2 one it converts to.
func ExampleResource_ToStorage() {
	r, _ := api.Lookup("autoscaling", "v1", "horizontalpodautoscalers")
	fmt.Println("stored as", r.Stored().GroupVersionKind())
	v1 := &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MaxReplicas:                    5,
			TargetCPUUtilizationPercentage: ptr.To[int32](50),
		},
	}
	obj, err := r.ToStorage(v1)
	if err != nil {
		fmt.Println(err)
		return
	}
	m := obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec.Metrics[0]
	fmt.Println(m.Type, m.Resource.Name, m.Resource.Target.Type, *m.Resource.Target.AverageUtilization)
	// Output:
	// stored as autoscaling/v2, Kind=HorizontalPodAutoscaler
	// Resource cpu Utilization 50
}
