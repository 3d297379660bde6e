package loadbalancer

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func TestParsePool(t *testing.T) {
	tests := []struct {
		specs    []string
		size     int
		contains []string
		wantErr  bool
	}{
		{[]string{"10.200.0.200-10.200.0.250"}, 51, []string{"10.200.0.200", "10.200.0.250"}, false},
		{[]string{"192.168.1.0/30"}, 2, []string{"192.168.1.1", "192.168.1.2"}, false},
		{[]string{"10.0.0.1-10.0.0.2", "10.0.0.9"}, 3, []string{"10.0.0.9"}, false},
		{[]string{"10.0.0.5-10.0.0.1"}, 0, nil, true},
		{[]string{"nonsense"}, 0, nil, true},
		{nil, 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.specs, ","), func(t *testing.T) {
			p, err := ParsePool(tt.specs)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if p.Size() != tt.size {
				t.Errorf("size %d, want %d", p.Size(), tt.size)
			}
			for _, ip := range tt.contains {
				if !p.Contains(ip) {
					t.Errorf("%s not in pool", ip)
				}
			}
		})
	}
}

func lbSvc(name, requested string, ingress ...string) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: requested}}
	for _, ip := range ingress {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

type lbFixture struct {
	c      *Controller
	client *fake.Clientset
	f      informers.SharedInformerFactory
	rec    *record.FakeRecorder
}

func newLB(t *testing.T, pool []string, objs ...runtime.Object) *lbFixture {
	t.Helper()
	p, err := ParsePool(pool)
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c := New(client, f, rec, p)
	for _, o := range objs {
		f.Core().V1().Services().Informer().GetIndexer().Add(o)
	}
	return &lbFixture{c, client, f, rec}
}

func (x *lbFixture) ip(t *testing.T, name string) string {
	s, err := x.client.CoreV1().Services("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Status.LoadBalancer.Ingress) == 0 {
		return ""
	}
	return s.Status.LoadBalancer.Ingress[0].IP
}

func (x *lbFixture) sync(t *testing.T, name string) {
	t.Helper()
	if err := x.c.sync(context.Background(), "default/"+name); err != nil {
		t.Fatal(err)
	}
}

func TestAllocationRequestedExhaustionAndRelease(t *testing.T) {
	x := newLB(t, []string{"10.200.0.200-10.200.0.202"},
		lbSvc("kept", "", "10.200.0.201"), lbSvc("a", ""), lbSvc("b", "10.200.0.202"), lbSvc("c", ""), lbSvc("outside", "10.9.9.9"))
	for _, n := range []string{"a", "b", "c"} {
		x.sync(t, n)
	}
	if got := x.ip(t, "a"); got != "10.200.0.200" {
		t.Errorf("a got %q, want 10.200.0.200 (.201 was rebuilt as kept's)", got)
	}
	if got := x.ip(t, "b"); got != "10.200.0.202" {
		t.Errorf("b got %q, want its requested 10.200.0.202", got)
	}
	if got := x.ip(t, "c"); got != "" {
		t.Errorf("c got %q from an exhausted pool", got)
	}
	ev := drain(x.rec)
	if !containsEvent(ev, "Warning AllocationFailed LoadBalancer IP pool 10.200.0.200-10.200.0.202 is exhausted (3 of 3 addresses in use)") {
		t.Errorf("no exhaustion event in %v", ev)
	}
	x.sync(t, "outside")
	if !containsEvent(drain(x.rec), "Warning AllocationFailed requested loadBalancerIP 10.9.9.9 is not in the pool") {
		t.Error("no event for a requested IP outside the pool")
	}
	// a becomes ClusterIP: its address is released and its status cleared.
	a, _ := x.client.CoreV1().Services("default").Get(context.Background(), "a", metav1.GetOptions{})
	a.Spec.Type = corev1.ServiceTypeClusterIP
	x.f.Core().V1().Services().Informer().GetIndexer().Update(a)
	x.sync(t, "a")
	if got := x.ip(t, "a"); got != "" {
		t.Errorf("ClusterIP service still shows %q", got)
	}
	x.sync(t, "c")
	if got := x.ip(t, "c"); got != "10.200.0.200" {
		t.Errorf("c got %q after a released, want 10.200.0.200", got)
	}
}

func TestNoPoolLeavesPendingWithEvent(t *testing.T) {
	x := newLB(t, nil, lbSvc("a", ""))
	x.sync(t, "a")
	if got := x.ip(t, "a"); got != "" {
		t.Errorf("got %q without a pool", got)
	}
	if !containsEvent(drain(x.rec), "Warning AllocationFailed no LoadBalancer IP pool is configured: start the controller-manager with --lb-pool") {
		t.Error("no event saying the pool is not configured")
	}
}

func drain(r *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-r.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func containsEvent(events []string, prefix string) bool {
	for _, e := range events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}
