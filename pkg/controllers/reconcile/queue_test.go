package reconcile

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

func TestEnqueueHandler(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}
	tests := []struct {
		name  string
		event func(h cache.ResourceEventHandlerFuncs)
		want  string
	}{
		{"add", func(h cache.ResourceEventHandlerFuncs) { h.OnAdd(pod, false) }, "ns/p"},
		{"update takes the new object", func(h cache.ResourceEventHandlerFuncs) { h.OnUpdate(node, pod) }, "ns/p"},
		{"delete", func(h cache.ResourceEventHandlerFuncs) { h.OnDelete(node) }, "n1"},
		{"tombstone", func(h cache.ResourceEventHandlerFuncs) {
			h.OnDelete(cache.DeletedFinalStateUnknown{Key: "ns/gone", Obj: pod})
		}, "ns/gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := workqueue.NewTyped[string]()
			defer q.ShutDown()
			tt.event(EnqueueHandler(q))
			if q.Len() != 1 {
				t.Fatalf("got %d keys, want 1", q.Len())
			}
			if got, _ := q.Get(); got != tt.want {
				t.Errorf("got key %q, want %q", got, tt.want)
			}
		})
	}
}

func TestObject(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	tests := []struct {
		name string
		obj  any
		ok   bool
	}{
		{"object", pod, true},
		{"tombstone", cache.DeletedFinalStateUnknown{Key: "p", Obj: pod}, true},
		{"other kind", &corev1.Node{}, false},
		{"tombstone of other kind", cache.DeletedFinalStateUnknown{Obj: &corev1.Node{}}, false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Object[*corev1.Pod](tt.obj)
			if ok != tt.ok {
				t.Fatalf("got ok %v, want %v", ok, tt.ok)
			}
			if ok && got != pod {
				t.Errorf("got %p, want the pod %p", got, pod)
			}
		})
	}
}
