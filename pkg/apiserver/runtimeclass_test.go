package apiserver_test

import (
	"context"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestRuntimeClassAdmission: a pod naming a RuntimeClass that does not
// exist is 403 in upstream's words; one naming an existing class gets the
// class's overhead and scheduling (node selector, tolerations); an
// overhead without a class is refused.
func TestRuntimeClassAdmission(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pod := func(name, class string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if class != "" {
			p.Spec.RuntimeClassName = ptr.To(class)
		}
		return p
	}
	_, err := cs.CoreV1().Pods("default").Create(ctx, pod("nope", "kata"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "nope" is forbidden: pod rejected: RuntimeClass "kata" not found` {
		t.Fatalf("unknown class: got %v, want 403 naming the class", err)
	}
	rc := &nodev1.RuntimeClass{
		ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Handler: "runc",
		Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"fast": "yes"},
			Tolerations: []corev1.Toleration{{Key: "fast", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}},
	}
	if _, err := cs.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().Pods("default").Create(ctx, pod("fast", "fast"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cpu := got.Spec.Overhead[corev1.ResourceCPU]; cpu.String() != "250m" || got.Spec.NodeSelector["fast"] != "yes" {
		t.Errorf("got overhead %v, node selector %v, want the class's", got.Spec.Overhead, got.Spec.NodeSelector)
	}
	tolerated := false
	for _, tol := range got.Spec.Tolerations {
		tolerated = tolerated || tol.Key == "fast"
	}
	if !tolerated {
		t.Errorf("got tolerations %v, want the class's", got.Spec.Tolerations)
	}
	conflict := pod("conflict", "fast")
	conflict.Spec.NodeSelector = map[string]string{"fast": "no"}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, conflict, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("conflicting node selector: got %v, want 403", err)
	}
	bare := pod("bare", "")
	bare.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, bare, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("overhead without a class: got %v, want 403", err)
	}
}
