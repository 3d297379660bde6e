package proxy_test

import (
	"context"
	"log"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/rest"

	"minik8s/pkg/nodeclient"
	"minik8s/pkg/proxy"
)

// The node agent runs the proxy in the node's network namespace until it
// stops; CleanupOnExit removes the table on a clean stop only.
func ExampleNew() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	client, err := nodeclient.New(&rest.Config{Host: "http://10.200.0.1:6443"})
	if err != nil {
		log.Fatal(err)
	}
	p, err := proxy.New(proxy.Config{
		NodeName:      "node1",
		NodeIP:        "10.200.0.11",
		ClusterCIDR:   "10.244.0.0/16",
		MinSyncPeriod: 100 * time.Millisecond,
		SyncPeriod:    30 * time.Second,
		Interface:     "eth0",
		CleanupOnExit: true,
	}, client)
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
