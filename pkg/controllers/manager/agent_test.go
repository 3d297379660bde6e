package manager

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// fakeAgent stands in for node agents: it binds unscheduled pods to a node,
// reports them Running and Ready with an IP through /status, and finishes
// graceful deletions at once.
type fakeAgent struct {
	client kubernetes.Interface
	ns     string
	node   string
	nextIP atomic.Int32
	mu     sync.Mutex
	done   map[string]bool // pod UIDs already reported ready
}

func newFakeAgent(client kubernetes.Interface, ns, node string) *fakeAgent {
	return &fakeAgent{client: client, ns: ns, node: node, done: map[string]bool{}}
}

func createNode(t *testing.T, ctx context.Context, client kubernetes.Interface, name string) {
	t.Helper()
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}},
	}
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating node: %v", err)
	}
	created.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now, Reason: "KubeletReady"}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("node status: %v", err)
	}
}

// run polls until ctx ends.
func (a *fakeAgent) run(ctx context.Context, t testing.TB) {
	for ctx.Err() == nil {
		if err := a.step(ctx); err != nil && ctx.Err() == nil {
			t.Logf("fake agent: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (a *fakeAgent) step(ctx context.Context) error {
	pods, err := a.client.CoreV1().Pods(a.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range pods.Items {
		pod := &pods.Items[i]
		a.mu.Lock()
		done := a.done[string(pod.UID)]
		a.mu.Unlock()
		if pod.DeletionTimestamp == nil && done {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			a.handle(ctx, pod)
		}()
	}
	wg.Wait()
	return nil
}

func (a *fakeAgent) handle(ctx context.Context, pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		zero := int64(0)
		_ = a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		return
	}
	if pod.Spec.NodeName == "" {
		err := a.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: a.node},
		}, metav1.CreateOptions{})
		if err != nil {
			return
		}
		fresh, err := a.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return
		}
		pod = fresh
	}
	n := a.nextIP.Add(1)
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = fmt.Sprintf("10.244.%d.%d", 1+n/250, 1+n%250)
	pod.Status.PodIPs = []corev1.PodIP{{IP: pod.Status.PodIP}}
	pod.Status.StartTime = &now
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	if _, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		return
	}
	a.mu.Lock()
	a.done[string(pod.UID)] = true
	a.mu.Unlock()
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
