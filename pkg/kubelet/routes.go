package kubelet

import (
	"context"
	"net"
	"time"

	"github.com/vishvananda/netlink"
	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"minik8s/pkg/nodeclient"
)

// routeProto marks the routes this agent owns (host-gw, as flannel does).
const routeProto = netlink.RouteProtocol(77)

// routeSyncer keeps a route to every other node's pod CIDR via its
// InternalIP, in the agent's (the node's) network namespace.
type routeSyncer struct {
	node   string
	lister cache.Store
	kick   chan struct{}
}

func (r *routeSyncer) trigger() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *routeSyncer) run(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if err := r.sync(); err != nil {
			klog.FromContext(ctx).Error(err, "syncing pod CIDR routes")
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-t.C:
		}
	}
}

// wantedRoutes maps each other node's pod CIDR to its InternalIP.
func wantedRoutes(self string, nodes []*v1.Node) map[string]net.IP {
	out := map[string]net.IP{}
	for _, n := range nodes {
		if n.Name == self || n.Spec.PodCIDR == "" {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type == v1.NodeInternalIP {
				if ip := net.ParseIP(a.Address); ip != nil {
					out[n.Spec.PodCIDR] = ip
				}
			}
		}
	}
	return out
}

func (r *routeSyncer) sync() error {
	want := wantedRoutes(r.node, nodeclient.List[*v1.Node](r.lister))
	have, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: routeProto}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return err
	}
	for _, rt := range have {
		if rt.Dst == nil {
			continue
		}
		if gw, ok := want[rt.Dst.String()]; ok && gw.Equal(rt.Gw) {
			delete(want, rt.Dst.String())
			continue
		}
		if err := netlink.RouteDel(&rt); err != nil {
			return err
		}
	}
	for cidr, gw := range want {
		_, dst, err := net.ParseCIDR(cidr)
		if err != nil {
			continue
		}
		if err := netlink.RouteReplace(&netlink.Route{Dst: dst, Gw: gw, Protocol: routeProto}); err != nil {
			return err
		}
	}
	return nil
}
