package proxy

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/nodeclient"
)

// testAPI starts a real apiserver holding objs (Services, with their
// status, EndpointSlices and Leases) and returns a client of it.
func testAPI(t *testing.T, objs ...runtime.Object) *nodeclient.Client {
	t.Helper()
	srv := apiservertest.Start(t)
	client, err := nodeclient.New(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, o := range objs {
		switch o := o.(type) {
		case *v1.Service:
			created, err := client.Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
			if err == nil && len(o.Status.LoadBalancer.Ingress) > 0 {
				created.Status = o.Status
				_, err = client.Services(o.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
			}
			if err != nil {
				t.Fatalf("creating service %s: %v", o.Name, err)
			}
		case *discoveryv1.EndpointSlice:
			if _, err := client.EndpointSlices(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err != nil {
				t.Fatalf("creating endpointslice %s: %v", o.Name, err)
			}
		case *coordinationv1.Lease:
			if _, err := client.Leases(o.Namespace).Create(ctx, o, metav1.CreateOptions{}); err != nil {
				t.Fatalf("creating lease %s: %v", o.Name, err)
			}
		default:
			t.Fatalf("testAPI: unexpected %T", o)
		}
	}
	return client
}

// TestAgainstAPIServer runs the proxy against a real minik8s apiserver:
// a Service created through the API becomes reachable, a deleted one
// stops answering.
func TestAgainstAPIServer(t *testing.T) {
	n := newTestNet(t)
	n.serveTCP(t, ":8080")
	client := testAPI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	p, err := New(Config{NodeName: "node1", ClusterCIDR: "10.244.0.0/16", MinSyncPeriod: 10 * time.Millisecond}, client)
	if err != nil {
		t.Fatal(err)
	}
	p.w.netnsFd = n.nodeFd
	t.Cleanup(func() { _ = p.w.Delete() })
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	svc := service("web", "10.96.0.10")
	created, err := client.Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service: %v", err)
	}
	sl := slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", node: "node1", ready: true})
	if _, err := client.EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating endpointslice: %v", err)
	}
	addr := created.Spec.ClusterIP + ":80"
	waitFor(t, "service reachable at "+addr, func() bool {
		got, err := get(n.nodeFd, addr)
		return err == nil && got == "10.244.1.5:8080"
	})

	if err := client.Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = client.EndpointSlices("default").Delete(ctx, sl.Name, metav1.DeleteOptions{})
	waitFor(t, "deleted service to stop answering", func() bool {
		_, err := get(n.nodeFd, addr)
		return err != nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRunNeedsClient(t *testing.T) {
	p, err := New(Config{NodeName: "node1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err == nil {
		t.Fatal("Run without a client: got no error")
	}
}
