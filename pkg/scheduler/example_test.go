package scheduler_test

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"minik8s/pkg/scheduler"
)

// Deciding for one pod over a hand-built snapshot, with no server.
func ExampleAlgorithm_Schedule() {
	mk := func(name, cpu string, unschedulable bool) *scheduler.NodeInfo {
		return scheduler.NewNodeInfo(&v1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       v1.NodeSpec{Unschedulable: unschedulable},
			Status: v1.NodeStatus{
				Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourcePods: resource.MustParse("110")},
				Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
			},
		})
	}
	pod := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{
		Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("2")}},
	}}}}
	algo := scheduler.NewAlgorithm(1)

	_, err := algo.Schedule(scheduler.NewPodInfo(pod), []*scheduler.NodeInfo{mk("a", "8", true), mk("b", "1", false), mk("c", "1", false)})
	fmt.Println(err)
	node, _ := algo.Schedule(scheduler.NewPodInfo(pod), []*scheduler.NodeInfo{mk("a", "8", true), mk("b", "1", false), mk("d", "4", false)})
	fmt.Println(node)
	// Output:
	// 0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu.
	// d
}
