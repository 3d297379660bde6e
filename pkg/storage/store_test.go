package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

func startStore(t *testing.T, opts ...Option) *Store {
	t.Helper()
	cfg := NewEtcdConfig(t.TempDir())
	cfg.UnsafeNoFsync = true
	cfg.CompactionRetention = 0
	e, err := StartEtcd(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c, err := NewClient([]string{e.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return New(c, opts...)
}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func newPod() runtime.Object { return &corev1.Pod{} }

func TestCRUD(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	key := Key("pods", "default", "a")
	p := pod("default", "a")
	if err := s.Create(ctx, key, p); err != nil {
		t.Fatal(err)
	}
	if p.ResourceVersion == "" {
		t.Fatal("create did not set resourceVersion")
	}
	if err := s.Create(ctx, key, pod("default", "a")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create: got %v, want ErrAlreadyExists", err)
	}
	var got corev1.Pod
	if err := s.Get(ctx, key, &got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != p.ResourceVersion || got.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("get: got rv %s image %s, want rv %s", got.ResourceVersion, got.Spec.Containers[0].Image, p.ResourceVersion)
	}

	// Update based on the current version succeeds and moves the version.
	var upd corev1.Pod
	err := s.GuaranteedUpdate(ctx, key, &upd, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.Pod)
		c.Labels["v"] = "2"
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if upd.ResourceVersion == got.ResourceVersion {
		t.Fatal("update did not move resourceVersion")
	}
	// A write based on the old version conflicts.
	err = s.GuaranteedUpdate(ctx, key, &corev1.Pod{}, func(cur runtime.Object) (runtime.Object, error) {
		stale := got.DeepCopy()
		stale.Labels["v"] = "3"
		return stale, nil
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	// Delete preconditions.
	wrong := types.UID("other")
	if err := s.Delete(ctx, key, &corev1.Pod{}, &Preconditions{UID: &wrong}, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete with wrong uid: got %v, want ErrConflict", err)
	}
	staleRV := got.ResourceVersion
	if err := s.Delete(ctx, key, &corev1.Pod{}, &Preconditions{ResourceVersion: &staleRV}, nil); !errors.Is(err, ErrConflict) {
		t.Fatalf("delete with stale rv: got %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, key, &corev1.Pod{}, &Preconditions{ResourceVersion: &upd.ResourceVersion}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, key, &corev1.Pod{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: got %v, want ErrNotFound", err)
	}
	if err := s.GuaranteedUpdate(ctx, key, &corev1.Pod{}, func(cur runtime.Object) (runtime.Object, error) { return cur, nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update after delete: got %v, want ErrNotFound", err)
	}
}

func TestTooLarge(t *testing.T) {
	s := startStore(t)
	p := pod("default", "big")
	p.Annotations = map[string]string{"x": string(make([]byte, 9<<20))}
	err := s.Create(context.Background(), Key("pods", "default", "big"), p)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

func TestListPaging(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	for i := 0; i < 25; i++ {
		ns := "a"
		if i%5 == 0 {
			ns = "b"
		}
		name := fmt.Sprintf("p%02d", i)
		if err := s.Create(ctx, Key("pods", ns, name), pod(ns, name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		prefix string
		limit  int64
		pred   func(runtime.Object) bool
		want   int
	}{
		{"all", Prefix("pods", ""), 0, nil, 25},
		{"namespace", Prefix("pods", "b"), 0, nil, 5},
		{"paged", Prefix("pods", ""), 7, nil, 25},
		{"paged with predicate", Prefix("pods", ""), 2, func(o runtime.Object) bool { return o.(*corev1.Pod).Namespace == "b" }, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got int
			var rv int64
			cont := ""
			pages := 0
			for {
				res, err := s.List(ctx, tt.prefix, newPod, ListOptions{Limit: tt.limit, Continue: cont, Predicate: tt.pred})
				if err != nil {
					t.Fatal(err)
				}
				if rv != 0 && res.ResourceVersion != rv {
					t.Fatalf("page rv %d, want %d", res.ResourceVersion, rv)
				}
				rv = res.ResourceVersion
				got += len(res.Items)
				pages++
				if tt.limit > 0 && int64(len(res.Items)) > tt.limit {
					t.Fatalf("page of %d items, limit %d", len(res.Items), tt.limit)
				}
				if res.Continue == "" {
					break
				}
				cont = res.Continue
				// Writes between pages do not show up: the token pins the revision.
				_ = s.Create(ctx, Key("pods", "b", fmt.Sprintf("late%d", pages)), pod("b", fmt.Sprintf("late%d", pages)))
			}
			if got != tt.want {
				t.Fatalf("got %d items, want %d", got, tt.want)
			}
			if tt.limit > 0 && pages < 2 {
				t.Fatalf("got %d pages, want several", pages)
			}
		})
		// Reset the late ones.
		for i := 0; i < 30; i++ {
			_ = s.Delete(ctx, Key("pods", "b", fmt.Sprintf("late%d", i)), &corev1.Pod{}, nil, nil)
		}
	}
	if _, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Continue: "garbage!"}); !errors.Is(err, ErrInvalidContinue) {
		t.Fatalf("bad continue: got %v, want ErrInvalidContinue", err)
	}
}

func next(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return Event{}
}

func TestWatchResumeAndCompaction(t *testing.T) {
	s := startStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := pod("default", "w")
	if err := s.Create(ctx, Key("pods", "default", "w"), p); err != nil {
		t.Fatal(err)
	}
	list, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var upd corev1.Pod
	if err := s.GuaranteedUpdate(ctx, Key("pods", "default", "w"), &upd, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.Pod)
		c.Labels["x"] = "y"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, Key("pods", "default", "w"), &corev1.Pod{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	ch := s.Watch(ctx, Prefix("pods", ""), newPod, WatchOptions{ResourceVersion: list.ResourceVersion})
	ev := next(t, ch)
	if ev.Type != watch.Modified || ev.Object.(*corev1.Pod).ResourceVersion != upd.ResourceVersion {
		t.Fatalf("first event %s rv %s, want MODIFIED rv %s", ev.Type, ev.Object.(*corev1.Pod).ResourceVersion, upd.ResourceVersion)
	}
	ev = next(t, ch)
	if ev.Type != watch.Deleted || ev.Revision <= list.ResourceVersion {
		t.Fatalf("second event %s rev %d, want DELETED", ev.Type, ev.Revision)
	}

	// Selection changes: an update that stops matching is a DELETED.
	sel := s.Watch(ctx, Prefix("pods", ""), newPod, WatchOptions{ResourceVersion: ev.Revision, Predicate: func(o runtime.Object) bool {
		return o.(*corev1.Pod).Labels["keep"] == "yes"
	}})
	q := pod("default", "q")
	q.Labels["keep"] = "yes"
	if err := s.Create(ctx, Key("pods", "default", "q"), q); err != nil {
		t.Fatal(err)
	}
	if err := s.GuaranteedUpdate(ctx, Key("pods", "default", "q"), &corev1.Pod{}, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*corev1.Pod)
		c.Labels["keep"] = "no"
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, sel); ev.Type != watch.Added {
		t.Fatalf("got %s, want ADDED", ev.Type)
	}
	if ev := next(t, sel); ev.Type != watch.Deleted {
		t.Fatalf("got %s, want DELETED", ev.Type)
	}

	// Initial events then the end-of-initial-events bookmark.
	init := s.Watch(ctx, Prefix("pods", ""), newPod, WatchOptions{SendInitialEvents: true})
	if ev := next(t, init); ev.Type != watch.Added || ev.Object.(*corev1.Pod).Name != "q" {
		t.Fatalf("got %s, want ADDED q", ev.Type)
	}
	if ev := next(t, init); ev.Type != watch.Bookmark || !ev.InitialEventsEnd {
		t.Fatalf("got %s end=%v, want the initial-events-end bookmark", ev.Type, ev.InitialEventsEnd)
	}

	// After compaction, an old revision gives ErrExpired.
	cur, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	old := s.Watch(ctx, Prefix("pods", ""), newPod, WatchOptions{ResourceVersion: list.ResourceVersion})
	ev = next(t, old)
	if ev.Type != watch.Error || !errors.Is(ev.Err, ErrExpired) {
		t.Fatalf("got %s %v, want an ErrExpired error event", ev.Type, ev.Err)
	}
	// A continue token from before the compaction is expired too.
	for i := 0; i < 3; i++ {
		_ = s.Create(ctx, Key("pods", "default", fmt.Sprintf("c%d", i)), pod("default", fmt.Sprintf("c%d", i)))
	}
	page, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Limit: 1})
	if err != nil || page.Continue == "" {
		t.Fatalf("list: %v, continue %q", err, page.Continue)
	}
	_ = s.Create(ctx, Key("pods", "default", "after"), pod("default", "after"))
	cur, _ = s.CurrentRevision(ctx)
	if _, err := s.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Limit: 1, Continue: page.Continue}); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired continue: got %v, want ErrExpired", err)
	}
}

func TestInjectResourceVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"kind":"Pod","metadata":{"name":"a"},"spec":{}}`, `{"kind":"Pod","metadata":{"resourceVersion":"7","name":"a"},"spec":{}}`},
		{`{"kind":"Pod","metadata":{},"spec":{}}`, `{"kind":"Pod","metadata":{"resourceVersion":"7"},"spec":{}}`},
	}
	for _, tt := range tests {
		if got := string(InjectResourceVersion([]byte(tt.in), 7)); got != tt.want {
			t.Errorf("got %s, want %s", got, tt.want)
		}
	}
}

// A list at an exact revision shows the state then; a compacted revision
// is ErrExpired, one not reached yet a FutureRevisionError.
func TestListExactRevision(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	if err := s.Create(ctx, Key("pods", "default", "a"), pod("default", "a")); err != nil {
		t.Fatal(err)
	}
	then, err := s.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, Key("pods", "default", "b"), pod("default", "b")); err != nil {
		t.Fatal(err)
	}
	res, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{ExactRevision: then})
	if err != nil || len(res.Items) != 1 || res.ResourceVersion != then {
		t.Fatalf("list at %d: %v, %d items at %d, want 1 at %d", then, err, len(res.Items), res.ResourceVersion, then)
	}
	// Before a existed the list is empty.
	page, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{ExactRevision: then - 1, Limit: 1})
	if err != nil || page.Continue != "" || len(page.Items) != 0 {
		t.Fatalf("list before a existed: %v, %d items, continue %q", err, len(page.Items), page.Continue)
	}
	cur, _ := s.CurrentRevision(ctx)
	var future *FutureRevisionError
	if _, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{ExactRevision: cur + 10}); !errors.As(err, &future) || future.Current != cur || future.Requested != cur+10 {
		t.Fatalf("future revision: got %v, want a FutureRevisionError %d > %d", err, cur+10, cur)
	}
	if _, err := s.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{ExactRevision: then}); !errors.Is(err, ErrExpired) {
		t.Fatalf("compacted revision: got %v, want ErrExpired", err)
	}
}

// TestWithDecoded: every object the store decodes passes through the
// decoded step, whatever read made it: get, list, watch (initial and
// live events) and the current object an update starts from; its error
// fails the read.
func TestWithDecoded(t *testing.T) {
	var fail bool
	mark := func(obj runtime.Object) error {
		if fail {
			return errors.New("refused")
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return fmt.Errorf("got %T", obj)
		}
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations["decoded"] = "yes"
		return nil
	}
	s := startStore(t, WithDecoded(mark))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key := Key("pods", "default", "a")
	if err := s.Create(ctx, key, pod("default", "a")); err != nil {
		t.Fatal(err)
	}
	marked := func(what string, obj runtime.Object) {
		t.Helper()
		if got := obj.(*corev1.Pod).Annotations["decoded"]; got != "yes" {
			t.Errorf("%s: got annotation %q, want the decoded step's", what, got)
		}
	}
	var got corev1.Pod
	if err := s.Get(ctx, key, &got); err != nil {
		t.Fatal(err)
	}
	marked("get", &got)
	list, err := s.List(ctx, Prefix("pods", "default"), newPod, ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: got %v, %v", list, err)
	}
	marked("list", list.Items[0])

	w := s.Watch(ctx, Prefix("pods", "default"), newPod, WatchOptions{})
	marked("watch initial event", next(t, w).Object)
	var out corev1.Pod
	if err := s.GuaranteedUpdate(ctx, key, &out, func(cur runtime.Object) (runtime.Object, error) {
		marked("update's current object", cur)
		p := cur.(*corev1.Pod).DeepCopy()
		p.Labels["step"] = "2"
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, w); ev.Type != watch.Modified {
		t.Errorf("watch: got %s, want MODIFIED", ev.Type)
	} else {
		marked("watch event", ev.Object)
	}

	fail = true
	if err := s.Get(ctx, key, &got); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("get with a failing decoded step: got %v, want its error", err)
	}
}

// A continue token whose revision was compacted is 410 with upstream's
// inconsistent continue token: it lists on from the same key at the
// latest revision, and the pages after it stay at that revision.
func TestListInconsistentContinue(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("p%d", i)
		if err := s.Create(ctx, Key("pods", "default", name), pod("default", name)); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Limit: 2})
	if err != nil || first.Continue == "" {
		t.Fatalf("first page: %v, continue %q", err, first.Continue)
	}
	// After the first page: p3 goes, p5 comes, and the history is compacted.
	if err := s.Delete(ctx, Key("pods", "default", "p3"), &corev1.Pod{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, Key("pods", "default", "p5"), pod("default", "p5")); err != nil {
		t.Fatal(err)
	}
	cur, _ := s.CurrentRevision(ctx)
	if _, err := s.Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	_, err = s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Limit: 2, Continue: first.Continue})
	var serr *Error
	if !errors.Is(err, ErrExpired) || !errors.As(err, &serr) || serr.Continue == "" {
		t.Fatalf("compacted continue: got %v, want ErrExpired with a continue token", err)
	}

	names := func(r *ListResult) []string {
		var out []string
		for _, o := range r.Items {
			out = append(out, o.(*corev1.Pod).Name)
		}
		return out
	}
	second, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Limit: 2, Continue: serr.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(names(second)); got != "[p2 p4]" {
		t.Errorf("inconsistent page: got %s, want [p2 p4]", got)
	}
	if second.ResourceVersion != cur {
		t.Errorf("inconsistent page at %d, want the latest %d", second.ResourceVersion, cur)
	}
	if second.RemainingItemCount == nil || *second.RemainingItemCount != 1 || second.Continue == "" {
		t.Fatalf("inconsistent page: remaining %v, continue %q, want 1 and a token", second.RemainingItemCount, second.Continue)
	}
	_ = s.Create(ctx, Key("pods", "default", "p6"), pod("default", "p6"))
	last, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Limit: 2, Continue: second.Continue})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(names(last)); got != "[p5]" || last.ResourceVersion != cur || last.Continue != "" || last.RemainingItemCount != nil {
		t.Errorf("last page: got %s at %d, continue %q, remaining %v; want [p5] at %d, no continue", got, last.ResourceVersion, last.Continue, last.RemainingItemCount, cur)
	}
}
