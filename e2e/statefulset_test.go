//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// headlessService is the governing Service of StatefulSet pods app=name.
func headlessService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  map[string]string{"app": name},
			Ports:     []corev1.ServicePort{{Name: "web", Port: 80}},
		},
	}
}

// statefulSet is a StatefulSet of toolbox pods running script, with its
// pods stopping at once on SIGTERM.
func statefulSet(name string, replicas int32, script string) *appsv1.StatefulSet {
	lbl := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers: []corev1.Container{{
						Name: "toolbox", Image: "minik8s/toolbox:latest",
						Command: []string{"sh", "-c", "trap 'exit 0' TERM; " + script + "; while true; do sleep 1; done"},
					}},
				},
			},
		},
	}
}

// podLog records, from a watch, when each pod was first seen Ready and
// first seen terminating, in the order it happened.
type podLog struct {
	mu     sync.Mutex
	events []string // "web-0 added", "web-0 ready", "web-2 terminating"
	seen   map[string]bool
}

func watchPods(t *testing.T, ns string) *podLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := &podLog{seen: map[string]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			key := p.Name + "/" + string(p.UID)
			l.mu.Lock()
			note := func(what string) {
				if !l.seen[key+" "+what] {
					l.seen[key+" "+what] = true
					l.events = append(l.events, p.Name+" "+what)
				}
			}
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				note("added")
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					note("ready")
				}
			}
			if p.DeletionTimestamp != nil || ev.Type == watch.Deleted {
				note("terminating")
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return l
}

// index is the position of the first event, -1 if it did not happen.
func (l *podLog) index(event string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, e := range l.events {
		if e == event {
			return i
		}
	}
	return -1
}

// lastIndex is the position of the last such event, -1 if none.
func (l *podLog) lastIndex(event string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.events) - 1; i >= 0; i-- {
		if l.events[i] == event {
			return i
		}
	}
	return -1
}

func (l *podLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.events, ", ")
}

// waitSetReady waits for n Ready pods of app=name, all counted in status.
func waitSetReady(t *testing.T, ns, name string, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("statefulset %s with %d ready pods", name, n), func() error {
		pods, err := readyPods(ns, "app="+name)
		if err != nil {
			return err
		}
		all, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return err
		}
		s, err := cs.AppsV1().StatefulSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(pods) != n || len(all.Items) != n || s.Status.ReadyReplicas != int32(n) || s.Status.ObservedGeneration < s.Generation {
			return fmt.Errorf("%d ready of %d pods, status %+v", len(pods), len(all.Items), s.Status)
		}
		return nil
	})
}

func TestStatefulSet(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	log := watchPods(t, ns)
	if _, err := cs.CoreV1().Services(ns).Create(ctx, headlessService("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, statefulSet("web", 3, "true"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSetReady(t, ns, "web", 3, 45*time.Second)

	// Ordered start: web-<i+1> appears only after web-<i> was Ready.
	for i := 0; i < 2; i++ {
		ready, next := log.index(fmt.Sprintf("web-%d ready", i)), log.index(fmt.Sprintf("web-%d added", i+1))
		if ready < 0 || next < ready {
			t.Errorf("web-%d appeared before web-%d was Ready: %s", i+1, i, log)
		}
	}
	hostname := func(pod string) string {
		t.Helper()
		out, err := podExec(ns, pod, "toolbox", "hostname")
		if err != nil {
			t.Fatalf("hostname in %s: %v", pod, err)
		}
		return strings.TrimSpace(out)
	}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		if got := hostname(name); got != name {
			t.Errorf("hostname in %s: got %q, want %q", name, got, name)
		}
	}

	// A deleted pod comes back under the same name.
	old, err := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web-1 back", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.UID == old.UID {
			return fmt.Errorf("still the old web-1")
		}
		if len(p.Status.Conditions) == 0 || !isReady(p) {
			return fmt.Errorf("new web-1 not Ready")
		}
		return nil
	})
	if got := hostname("web-1"); got != "web-1" {
		t.Errorf("hostname in the new web-1: got %q, want web-1", got)
	}
	waitSetReady(t, ns, "web", 3, 30*time.Second)

	// The stable name follows the member: web-1.web.NS.svc resolves, from
	// web-0, to the new web-1's address.
	eventually(t, 15*time.Second, "web-1.web."+ns+".svc.cluster.local", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-1", metav1.GetOptions{})
		if err != nil {
			return err
		}
		out, err := nslookup(ns, "web-0", "web-1.web."+ns+".svc.cluster.local")
		if got := nslookupAnswers(out); !slices.Equal(got, []string{p.Status.PodIP}) {
			return fmt.Errorf("got %v (%v), want [%s]", got, err, p.Status.PodIP)
		}
		return nil
	})

	// Scale to 1: web-2 goes first, then web-1.
	if out, err := ctl("scale", "statefulset/web", "--replicas=1", "-n", ns); err != nil {
		t.Fatalf("ctl scale: %v\n%s", err, out)
	}
	waitSetReady(t, ns, "web", 1, 30*time.Second)
	if p, err := cs.CoreV1().Pods(ns).Get(ctx, "web-0", metav1.GetOptions{}); err != nil || !isReady(p) {
		t.Errorf("web-0 after scale-down: %v", err)
	}
	// The second web-1's termination is the last one.
	if gone2, gone1 := log.lastIndex("web-2 terminating"), log.lastIndex("web-1 terminating"); gone2 < 0 || gone1 < gone2 {
		t.Errorf("scale-down order: want web-2 terminating before web-1: %s", log)
	}
	t.Logf("pod events: %s", log)
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
