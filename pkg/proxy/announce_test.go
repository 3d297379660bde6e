package proxy

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"minik8s/pkg/nodeclient"
)

func nodeLease(name string, renew time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: NodeLeaseNamespace},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](10),
			RenewTime: &metav1.MicroTime{Time: renew}},
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAnnouncerHoldsAndReleases runs the announcer against a real
// apiserver and a real interface in a throwaway namespace: this node takes the LB IPs of
// the Services it wins among fresh nodes, records itself on them, and lets
// them go when its own Lease expires.
func TestAnnouncerHoldsAndReleases(t *testing.T) {
	n := newTestNet(t)
	now := time.Now()
	objs := []runtime.Object{nodeLease("node1", now), nodeLease("node2", now)}
	var mine, theirs []string
	for i := 0; len(mine) < 2 || len(theirs) < 1; i++ {
		name := fmt.Sprintf("lb%d", i)
		ip := fmt.Sprintf("10.200.0.%d", 200+i)
		objs = append(objs, &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeLoadBalancer, ClusterIP: fmt.Sprintf("10.96.1.%d", i+1),
				Ports: []v1.ServicePort{{Port: 80}}},
			Status: v1.ServiceStatus{LoadBalancer: v1.LoadBalancerStatus{Ingress: []v1.LoadBalancerIngress{{IP: ip}}}},
		})
		if Announcer("default/"+name, []string{"node1", "node2"}) == "node1" {
			mine = append(mine, name+"="+ip)
		} else {
			theirs = append(theirs, name+"="+ip)
		}
	}
	client := testAPI(t, objs...)
	svcs := nodeclient.NewInformer(client.Services("").ListWatch(nil), &v1.Service{})
	a := newAnnouncer(Config{NodeName: "node1", Interface: "pxc-n", LeaseCheckPeriod: 50 * time.Millisecond}, client, svcs)
	a.netnsFd = n.nodeFd
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go svcs.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), svcs.HasSynced) {
		t.Fatal("services cache did not sync")
	}
	done := make(chan struct{})
	go func() { a.run(ctx); close(done) }()

	var wantIPs []string
	for _, m := range mine {
		wantIPs = append(wantIPs, strings.Split(m, "=")[1])
	}
	waitFor(t, "LB IPs held", func() bool { return strings.Join(a.Held(), ",") == strings.Join(sortedCopy(wantIPs), ",") })
	addrs := sh(t, "ip", "netns", "exec", n.node, "ip", "-4", "addr", "show", "dev", "pxc-n")
	for _, ip := range wantIPs {
		if !strings.Contains(addrs, ip+"/32") {
			t.Errorf("%s not on the interface:\n%s", ip, addrs)
		}
	}
	for _, th := range theirs {
		if strings.Contains(addrs, strings.Split(th, "=")[1]+"/") {
			t.Errorf("holds %s that node2 should announce", th)
		}
	}
	for _, m := range mine {
		name := strings.Split(m, "=")[0]
		waitFor(t, "annotation on "+name, func() bool {
			s, err := client.Services("default").Get(ctx, name, metav1.GetOptions{})
			return err == nil && s.Annotations[AnnouncerAnnotation] == "node1"
		})
	}
	for _, th := range theirs {
		s, _ := client.Services("default").Get(ctx, strings.Split(th, "=")[0], metav1.GetOptions{})
		if v, ok := s.Annotations[AnnouncerAnnotation]; ok {
			t.Errorf("node1 annotated %s (announcer %q), which it does not hold", th, v)
		}
	}

	// Our own Lease expires: another node is the holder now.
	own, err := client.Leases(NodeLeaseNamespace).Get(ctx, "node1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	own.Spec.RenewTime = &metav1.MicroTime{Time: now.Add(-time.Minute)}
	if _, err := client.Leases(NodeLeaseNamespace).Update(ctx, own, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "LB IPs released", func() bool { return len(a.Held()) == 0 })
	addrs = sh(t, "ip", "netns", "exec", n.node, "ip", "-4", "addr", "show", "dev", "pxc-n")
	if strings.Contains(addrs, "/32") {
		t.Errorf("addresses left after release:\n%s", addrs)
	}
	cancel()
	<-done
}

func sortedCopy(s []string) []string {
	c := append([]string{}, s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}
