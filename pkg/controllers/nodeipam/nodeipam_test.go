package nodeipam

import (
	"context"
	"net"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

func TestAllocator(t *testing.T) {
	a, err := NewAllocator(mustCIDR("10.244.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Occupy("10.244.0.0/24") || !a.Occupy("10.244.2.0/24") {
		t.Fatal("occupy failed")
	}
	if a.Occupy("10.245.0.0/24") || a.Occupy("10.244.3.0/25") {
		t.Error("occupied a CIDR outside the cluster CIDR or of another size")
	}
	var got []string
	for i := 0; i < 2; i++ {
		c, err := a.Allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if got[0] != "10.244.1.0/24" || got[1] != "10.244.3.0/24" {
		t.Errorf("got %v, want 10.244.1.0/24 10.244.3.0/24 (used ones skipped)", got)
	}
	small, _ := NewAllocator(mustCIDR("10.0.0.0/30"), 30)
	if _, err := small.Allocate(); err != nil {
		t.Fatal(err)
	}
	if _, err := small.Allocate(); err != ErrFull {
		t.Errorf("got %v, want ErrFull", err)
	}
	small.Release("10.0.0.0/30")
	if c, err := small.Allocate(); err != nil || c != "10.0.0.0/30" {
		t.Errorf("after release got %q %v", c, err)
	}
	if _, err := NewAllocator(mustCIDR("10.0.0.0/16"), 8); err == nil {
		t.Error("mask size shorter than the cluster CIDR accepted")
	}
}

func node(name, cidr string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr}}
}

func TestControllerAssignsAndRebuilds(t *testing.T) {
	objs := []runtime.Object{node("a", "10.244.0.0/24"), node("b", ""), node("c", "10.244.1.0/24")}
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c, err := New(client, f, record.NewFakeRecorder(10), mustCIDR("10.244.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
	}
	ctx := context.Background()
	// b is synced first: a's and c's CIDRs must already count as used.
	for _, n := range []string{"b", "a", "c"} {
		if err := c.sync(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := client.CoreV1().Nodes().Get(ctx, "b", metav1.GetOptions{})
	if b.Spec.PodCIDR != "10.244.2.0/24" || len(b.Spec.PodCIDRs) != 1 {
		t.Fatalf("node b got %q %v, want 10.244.2.0/24", b.Spec.PodCIDR, b.Spec.PodCIDRs)
	}
	// Delete a: its CIDR is free again.
	f.Core().V1().Nodes().Informer().GetIndexer().Delete(objs[0])
	if err := c.sync(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if c.alloc.Used("10.244.0.0/24") {
		t.Error("CIDR of a deleted node still used")
	}
	// A restarted controller rebuilds from the nodes.
	f2 := informers.NewSharedInformerFactory(client, 0)
	c2, _ := New(client, f2, record.NewFakeRecorder(10), mustCIDR("10.244.0.0/16"), 24)
	nodes, _ := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for i := range nodes.Items {
		f2.Core().V1().Nodes().Informer().GetIndexer().Add(&nodes.Items[i])
	}
	if err := c2.rebuild(); err != nil {
		t.Fatal(err)
	}
	for _, cidr := range []string{"10.244.1.0/24", "10.244.2.0/24"} {
		if !c2.alloc.Used(cidr) {
			t.Errorf("after restart %s is free", cidr)
		}
	}
}
