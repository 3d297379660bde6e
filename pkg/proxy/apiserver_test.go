package proxy

import (
	"context"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestAgainstAPIServer runs the proxy against a real minik8s apiserver:
// a Service created through the API becomes reachable, a deleted one
// stops answering.
func TestAgainstAPIServer(t *testing.T) {
	n := newTestNet(t)
	n.serveTCP(t, ":8080")
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
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
	created, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating service: %v", err)
	}
	sl := slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", node: "node1", ready: true})
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating endpointslice: %v", err)
	}
	addr := created.Spec.ClusterIP + ":80"
	waitFor(t, "service reachable at "+addr, func() bool {
		got, err := get(n.nodeFd, addr)
		return err == nil && got == "10.244.1.5:8080"
	})

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = client.DiscoveryV1().EndpointSlices("default").Delete(ctx, sl.Name, metav1.DeleteOptions{})
	waitFor(t, "deleted service to stop answering", func() bool {
		_, err := get(n.nodeFd, addr)
		return err != nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}
