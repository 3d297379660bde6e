package kubelet

import (
	"context"
	"time"

	"k8s.io/klog/v2"

	"minik8s/pkg/nodeclient"
	"minik8s/pkg/proxy"
)

// runProxy runs the Service proxy (pkg/proxy) in the agent's network
// namespace until ctx ends. A proxy that fails leaves the agent running:
// pods still work, Services do not, and the log says why.
func runProxy(ctx context.Context, cfg *Config, client *nodeclient.Client, nodeIP string, drain *endpointDrain) {
	logger := klog.FromContext(ctx)
	p, err := proxy.New(proxy.Config{
		NodeName:      cfg.NodeName,
		NodeIP:        nodeIP,
		ClusterCIDR:   cfg.ClusterCIDR,
		MinSyncPeriod: 100 * time.Millisecond,
		SyncPeriod:    30 * time.Second,
		Interface:     cfg.ProxyInterface,
	}, client)
	if err != nil {
		logger.Error(err, "starting the Service proxy")
		return
	}
	drain.setProxy(p.Serves)
	if err := p.Run(ctx); err != nil && ctx.Err() == nil {
		logger.Error(err, "Service proxy stopped")
	}
}
