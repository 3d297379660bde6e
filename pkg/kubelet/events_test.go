package kubelet

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/nodeclient"
)

// startRecorder runs a recorder against a real apiserver and returns a
// clientset to read what it wrote.
func startRecorder(t *testing.T) (*recorder, kubernetes.Interface) {
	t.Helper()
	srv := apiservertest.Start(t)
	client, err := nodeclient.New(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder(client, v1.EventSource{Component: "kubelet", Host: "n1"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, kubernetes.NewForConfigOrDie(srv.Config)
}

func eventPod(name string) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)}}
}

// eventsAbout waits until the recorder has written everything queued
// before it (a marker Event about another pod shows up, and the recorder
// writes in order), then returns the Events about pod.
func eventsAbout(t *testing.T, r *recorder, cs kubernetes.Interface, pod *v1.Pod) []v1.Event {
	t.Helper()
	marker := eventPod(fmt.Sprintf("marker-%d", time.Now().UnixNano()))
	r.Event(marker, v1.EventTypeNormal, "Marker", "flush")
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []v1.Event
		flushed := false
		for _, e := range list.Items {
			switch e.InvolvedObject.UID {
			case pod.UID:
				out = append(out, e)
			case marker.UID:
				flushed = true
			}
		}
		if flushed {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatal("the recorder did not write its marker event")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRecorderCountsRepeats(t *testing.T) {
	r, cs := startRecorder(t)
	pod := eventPod("web")
	for range 3 {
		r.Event(pod, v1.EventTypeWarning, "BackOff", "Back-off restarting failed container c")
	}
	r.Eventf(pod, v1.EventTypeNormal, "Pulled", "Successfully pulled image %q", "img:1")

	got := eventsAbout(t, r, cs, pod)
	if len(got) != 2 {
		t.Fatalf("got %d events, want 2 (one counted 3 times, one other): %+v", len(got), got)
	}
	for _, e := range got {
		want := int32(1)
		if e.Reason == "BackOff" {
			want = 3
		}
		if e.Count != want {
			t.Errorf("%s: count %d, want %d", e.Reason, e.Count, want)
		}
		if e.InvolvedObject.Kind != "Pod" || e.InvolvedObject.Name != "web" || e.Source.Host != "n1" || e.Source.Component != "kubelet" {
			t.Errorf("%s: about %+v from %+v, want Pod web from kubelet on n1", e.Reason, e.InvolvedObject, e.Source)
		}
		if e.LastTimestamp.Before(&e.FirstTimestamp) {
			t.Errorf("%s: lastTimestamp %v before firstTimestamp %v", e.Reason, e.LastTimestamp, e.FirstTimestamp)
		}
	}
}

// TestRecorderRecreatesDeleted: a repeat of an Event someone deleted
// makes a new one.
func TestRecorderRecreatesDeleted(t *testing.T) {
	r, cs := startRecorder(t)
	pod := eventPod("web")
	r.Event(pod, v1.EventTypeNormal, "Started", "Started container c")
	first := eventsAbout(t, r, cs, pod)
	if len(first) != 1 {
		t.Fatalf("got %d events, want 1", len(first))
	}
	if err := cs.CoreV1().Events("default").Delete(context.Background(), first[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r.Event(pod, v1.EventTypeNormal, "Started", "Started container c")
	got := eventsAbout(t, r, cs, pod)
	if len(got) != 1 || got[0].Count != 2 {
		t.Fatalf("after deleting the event and repeating it: got %+v, want one event with count 2", got)
	}
}

// TestRecorderBurstLimit: a flood of distinct Events about one object
// stops at the burst; another object is not held back by it.
func TestRecorderBurstLimit(t *testing.T) {
	r, cs := startRecorder(t)
	noisy, quiet := eventPod("noisy"), eventPod("quiet")
	for i := range eventBurst + 5 {
		r.Eventf(noisy, v1.EventTypeWarning, "Unhealthy", "Readiness probe failed: attempt %d", i)
	}
	r.Event(quiet, v1.EventTypeWarning, "Unhealthy", "Readiness probe failed")
	if got := len(eventsAbout(t, r, cs, noisy)); got != eventBurst {
		t.Errorf("noisy pod: %d events written, want the burst of %d", got, eventBurst)
	}
	if got := len(eventsAbout(t, r, cs, quiet)); got != 1 {
		t.Errorf("quiet pod: %d events written, want 1", got)
	}
}
