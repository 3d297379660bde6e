package statefulset

import (
	"context"
	"errors"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

func TestOrderedCreationWaitsForReady(t *testing.T) {
	f := newFixture(t, newSet(3))
	f.sync()
	wantStrings(t, "pods after first sync", f.podNames(), "web-0")
	f.sync()
	wantStrings(t, "pods while web-0 is Pending", f.podNames(), "web-0")
	// Running but not Ready does not do either.
	f.setPod("web-0", func(p *corev1.Pod) { p.Status.Phase = corev1.PodRunning })
	f.sync()
	wantStrings(t, "pods while web-0 is not Ready", f.podNames(), "web-0")
	f.ready("web-0")
	f.sync()
	wantStrings(t, "pods once web-0 is Ready", f.podNames(), "web-0", "web-1")
	f.ready("web-1")
	f.sync()
	wantStrings(t, "pods once web-1 is Ready", f.podNames(), "web-0", "web-1", "web-2")
	f.ready("web-2")
	f.sync()
	st := f.set().Status
	if st.Replicas != 3 || st.ReadyReplicas != 3 || st.AvailableReplicas != 3 || st.CurrentReplicas != 3 || st.UpdatedReplicas != 3 || st.ObservedGeneration != 1 {
		t.Errorf("got status %+v, want 3 replicas ready, available, current and updated at generation 1", st)
	}
	if st.CurrentRevision == "" || st.CurrentRevision != st.UpdateRevision {
		t.Errorf("got revisions %q/%q, want one equal current and update revision", st.CurrentRevision, st.UpdateRevision)
	}
}

func TestMinReadySecondsGatesTheNextOrdinal(t *testing.T) {
	f := newFixture(t, newSet(2, func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 }))
	f.sync()
	f.ready("web-0")
	f.sync()
	wantStrings(t, "pods before minReadySeconds", f.podNames(), "web-0")
	if got := f.set().Status.AvailableReplicas; got != 0 {
		t.Errorf("got %d available before minReadySeconds, want 0", got)
	}
	f.clock.Step(11e9)
	f.sync()
	wantStrings(t, "pods after minReadySeconds", f.podNames(), "web-0", "web-1")
	if got := f.set().Status.AvailableReplicas; got != 1 {
		t.Errorf("got %d available after minReadySeconds, want 1", got)
	}
}

func TestParallelCreatesAll(t *testing.T) {
	f := newFixture(t, newSet(3, parallel))
	f.sync()
	wantStrings(t, "pods", f.podNames(), "web-0", "web-1", "web-2")
}

func TestStartOrdinal(t *testing.T) {
	f := newFixture(t, newSet(2, parallel, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} }))
	f.sync()
	wantStrings(t, "pods", f.podNames(), "web-5", "web-6")
	if got := f.pod("web-6").Labels[appsv1.PodIndexLabel]; got != "6" {
		t.Errorf("got pod-index %q, want 6", got)
	}
}

func TestPodIdentity(t *testing.T) {
	set := newSet(1)
	set.Spec.Template.Annotations = map[string]string{"a": "b"}
	f := newFixture(t, set)
	f.sync()
	p := f.pod("web-0")
	rev := f.set().Status.UpdateRevision
	checks := []struct {
		what, got, want string
	}{
		{"hostname", p.Spec.Hostname, "web-0"},
		{"subdomain", p.Spec.Subdomain, "web"},
		{"generateName", p.GenerateName, "web-"},
		{"pod-name label", p.Labels[appsv1.StatefulSetPodNameLabel], "web-0"},
		{"pod-index label", p.Labels[appsv1.PodIndexLabel], "0"},
		{"revision label", p.Labels[appsv1.StatefulSetRevisionLabel], rev},
		{"template label", p.Labels["app"], "web"},
		{"template annotation", p.Annotations["a"], "b"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "StatefulSet" || ref.Name != "web" || ref.UID != "web-uid" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("got controller ref %+v, want the StatefulSet's", ref)
	}
	wantStrings(t, "events", f.events(), "Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful")
}

func TestScaleDownFromTheHighestOrdinal(t *testing.T) {
	tests := []struct {
		name  string
		opts  []setOpt
		steps [][]string // pods each sync deletes; after each, terminations finish
	}{
		{"ordered one at a time", nil, [][]string{{"web-3"}, {"web-2"}, {"web-1"}, nil}},
		{"parallel all at once", []setOpt{parallel}, [][]string{{"web-1", "web-2", "web-3"}, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, newSet(4, tt.opts...))
			f.bringUp(4)
			f.gracefulDeletes()
			f.updateSet(func(s *appsv1.StatefulSet) { *s.Spec.Replicas = 1 })
			for _, want := range tt.steps {
				f.sync()
				got := f.actions("delete", "pods")
				sort.Strings(got)
				wantStrings(t, "deleted", got, want...)
				if len(want) > 0 {
					f.sync()
					wantStrings(t, "deleted while terminating", f.actions("delete", "pods"))
				}
				f.finishTerminations()
			}
			wantStrings(t, "pods left", f.podNames(), "web-0")
			if got := f.set().Status.Replicas; got != 1 {
				t.Errorf("got status.replicas %d, want 1", got)
			}
		})
	}
}

func TestScaleDownWithUnhealthyPods(t *testing.T) {
	tests := []struct {
		name     string
		notReady []string
		want     []string
	}{
		{"a remaining pod is not Ready: wait", []string{"web-0"}, nil},
		{"a lower condemned pod is not Ready: wait", []string{"web-1", "web-2"}, nil},
		{"the first unhealthy pod itself goes", []string{"web-2"}, []string{"web-2"}},
		{"healthy higher pods go before an unhealthy lower one", []string{"web-1"}, []string{"web-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, newSet(3))
			f.bringUp(3)
			f.gracefulDeletes()
			f.updateSet(func(s *appsv1.StatefulSet) { *s.Spec.Replicas = 1 })
			for _, n := range tt.notReady {
				f.setPod(n, func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse })
			}
			f.sync()
			wantStrings(t, "deleted", f.actions("delete", "pods"), tt.want...)
		})
	}
}

func TestFailedPodIsRecreatedWithItsName(t *testing.T) {
	for _, phase := range []corev1.PodPhase{corev1.PodFailed, corev1.PodSucceeded} {
		t.Run(string(phase), func(t *testing.T) {
			f := newFixture(t, newSet(3))
			f.bringUp(3)
			f.events()
			f.setPod("web-1", func(p *corev1.Pod) { p.Status.Phase = phase })
			f.sync()
			wantStrings(t, "deleted", f.actions("delete", "pods"), "web-1")
			wantStrings(t, "created in the same sync", f.actions("create", "pods"))
			f.sync()
			wantStrings(t, "created", f.actions("create", "pods"), "web-1")
			wantStrings(t, "events", f.events(),
				"Normal SuccessfulDelete delete Pod web-1 in StatefulSet web successful",
				"Normal SuccessfulCreate create Pod web-1 in StatefulSet web successful")
		})
	}
}

func TestFailedCreateEvent(t *testing.T) {
	f := newFixture(t, newSet(1))
	f.client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("pods"), "web-0", errors.New("quota exceeded"))
	})
	if _, err := f.c.sync(context.Background(), "default/web"); err == nil {
		t.Fatal("sync succeeded although the pod could not be created")
	}
	wantStrings(t, "events", f.events(),
		`Warning FailedCreate create Pod web-0 in StatefulSet web failed error: pods "web-0" is forbidden: quota exceeded`)
}
