package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
)

func testEvent(pod string, n int) *v1.Event {
	now := metav1.Now()
	return &v1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: fmt.Sprintf("%s.%d", pod, n)},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: "default", Name: pod, UID: types.UID("uid-" + pod)},
		Type:           v1.EventTypeNormal, Reason: "Scheduled", Message: "Successfully assigned default/" + pod + " to n1",
		Source:         v1.EventSource{Component: DefaultSchedulerName},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
}

// The writer's queue is bounded: what does not fit is dropped and counted,
// the rest is written, and a repeat of an event updates its count instead
// of adding an event.
func TestEventWriter(t *testing.T) {
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
	w := newEventWriter(client.CoreV1().Events(""), 2)
	for i := range 5 {
		w.enqueue(testEvent(fmt.Sprintf("p%d", i), i))
	}
	if got := w.dropped.Load(); got != 3 {
		t.Fatalf("dropped: got %d, want 3 (queue of 2, 5 events, no writer running)", got)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); w.run(ctx) }()
	defer func() { cancel(); <-done }()
	waitWritten := func(n int64) {
		t.Helper()
		err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return w.written.Load() == n, nil
		})
		if err != nil {
			t.Fatalf("written: got %d, want %d (failed %d)", w.written.Load(), n, w.failed.Load())
		}
	}
	waitWritten(2)
	w.enqueue(testEvent("p0", 10))
	waitWritten(3)

	evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Only the scheduler's: the apiserver records events of its own in
	// default now and then (one about the kubernetes Service was seen).
	counts, n := map[string]int32{}, 0
	for _, e := range evs.Items {
		if e.Source.Component != DefaultSchedulerName {
			continue
		}
		counts[e.InvolvedObject.Name] += e.Count
		n++
	}
	if n != 2 || counts["p0"] != 2 || counts["p1"] != 1 {
		t.Errorf("stored events: %d, counts %v, want 2 events: p0 counted twice, p1 once", n, counts)
	}
}
