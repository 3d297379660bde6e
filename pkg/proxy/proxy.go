package proxy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"minik8s/pkg/nodeclient"
)

// Config configures the proxy of one node.
type Config struct {
	// NodeName is this node's Node name (local endpoints, LB announcement).
	NodeName string
	// NodeIP is this node's address.
	NodeIP string
	// ClusterCIDR is the pod range; traffic from outside it is
	// masqueraded. Empty masquerades all Service traffic.
	ClusterCIDR string
	// MinSyncPeriod batches changes: at most one sync per period.
	MinSyncPeriod time.Duration
	// SyncPeriod is how often the kernel table is checked and repaired.
	SyncPeriod time.Duration
	// Interface holds the LoadBalancer IPs this node announces; empty
	// disables announcing.
	Interface string
	// CleanupOnExit removes the table (and announced addresses) when Run
	// returns.
	CleanupOnExit bool
	// NetNS, when set, is the path of the network namespace to program
	// (e.g. /run/netns/mk8s-node1); empty means the current one.
	NetNS string
	// LeaseCheckPeriod is how often Lease freshness is re-evaluated for
	// LB announcement (default 1s).
	LeaseCheckPeriod time.Duration
}

// Validate checks the Config.
func (c *Config) Validate() error {
	if c.NodeName == "" {
		return errors.New("proxy: node name is required")
	}
	if c.ClusterCIDR != "" {
		ip, n, err := net.ParseCIDR(c.ClusterCIDR)
		if err != nil || ip.To4() == nil {
			return fmt.Errorf("proxy: cluster CIDR %q is not an IPv4 CIDR", c.ClusterCIDR)
		}
		_ = n
	}
	if c.MinSyncPeriod < 0 || c.SyncPeriod < 0 {
		return errors.New("proxy: sync periods must not be negative")
	}
	return nil
}

var (
	metricSyncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "minik8s_proxy_sync_duration_seconds",
		Help:    "Time to compute and write the nftables table, by kind (full or partial).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	}, []string{"kind"})
	metricRules = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "minik8s_proxy_rules",
		Help: "Rules in the Service chains of the nftables table.",
	})
	metricElements = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "minik8s_proxy_map_elements",
		Help: "Elements in the dispatch maps and sets of the nftables table.",
	})
	metricLastSync = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "minik8s_proxy_last_sync_timestamp_seconds",
		Help: "Unix time of the last successful sync.",
	})
	metricSyncErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "minik8s_proxy_sync_errors_total",
		Help: "Syncs that failed.",
	})
	metricsOnce sync.Once
)

func registerMetrics() {
	metricsOnce.Do(func() {
		for _, c := range []prometheus.Collector{metricSyncDuration, metricRules, metricElements, metricLastSync, metricSyncErrors} {
			if err := prometheus.DefaultRegisterer.Register(c); err != nil {
				klog.ErrorS(err, "registering proxy metric")
			}
		}
	})
}

// Proxy programs the node's Service rules.
type Proxy struct {
	cfg     Config
	cidr    *net.IPNet
	client  *nodeclient.Client
	w       *writer
	trigger chan struct{}
	ann     *announcer
	// frags caches each Service's part of the table with the objects it
	// came from; cached objects are never mutated, so the same pointers
	// mean the same part.
	frags  map[string]cachedFragment
	merged *State
	// udpServed are the UDP endpoints of the last table written, so that
	// the next sync, full or partial, can drop the conntrack entries of
	// those it removes.
	udpServed map[endpoint]struct{}
	// OnSync, if set, is called after every successful write (benchmarks
	// and the lab use it to time Service programming).
	OnSync func(st *State)
	// local are the addresses of this node's endpoints in the rules last
	// written (read by the agent, which holds a deleted pod's SIGTERM
	// until its address is out).
	local atomic.Pointer[map[[4]byte]struct{}]
}

// Serves tells whether the rules last written send new connections to an
// endpoint of this node at ip.
func (p *Proxy) Serves(ip string) bool {
	a, ok := ip4(ip)
	if !ok {
		return false
	}
	m := p.local.Load()
	if m == nil {
		return false
	}
	_, in := (*m)[a]
	return in
}

// New returns a Proxy for cfg that reads the API through client. A Proxy
// that is only given objects through Sync needs no client (nil).
func New(cfg Config, client *nodeclient.Client) (*Proxy, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MinSyncPeriod == 0 {
		cfg.MinSyncPeriod = 100 * time.Millisecond
	}
	if cfg.SyncPeriod == 0 {
		cfg.SyncPeriod = 30 * time.Second
	}
	if cfg.LeaseCheckPeriod == 0 {
		cfg.LeaseCheckPeriod = time.Second
	}
	p := &Proxy{cfg: cfg, client: client, w: &writer{}, trigger: make(chan struct{}, 1)}
	if cfg.NetNS != "" {
		fd, err := unix.Open(cfg.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("proxy: opening netns %s: %w", cfg.NetNS, err)
		}
		p.w.netnsFd = fd
	}
	if cfg.ClusterCIDR != "" {
		_, p.cidr, _ = net.ParseCIDR(cfg.ClusterCIDR)
	}
	registerMetrics()
	return p, nil
}

func (p *Proxy) poke() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// Run syncs until ctx is done. On return it removes the table when
// CleanupOnExit is set; otherwise the rules stay and keep traffic flowing.
func (p *Proxy) Run(ctx context.Context) error {
	if p.client == nil {
		return errors.New("proxy: Run needs an API client")
	}
	svcInf := nodeclient.NewInformer(p.client.Services("").ListWatch(nil), &v1.Service{})
	sliceInf := nodeclient.NewInformer(p.client.EndpointSlices("").ListWatch(nil), &discoveryv1.EndpointSlice{})
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.poke() },
		UpdateFunc: func(any, any) { p.poke() },
		DeleteFunc: func(any) { p.poke() },
	}
	if _, err := svcInf.AddEventHandler(h); err != nil {
		return err
	}
	if _, err := sliceInf.AddEventHandler(h); err != nil {
		return err
	}
	if p.cfg.Interface != "" {
		p.ann = newAnnouncer(p.cfg, p.client, svcInf)
		p.ann.netnsFd = p.w.netnsFd
	}
	// The informers stop before Run returns.
	var informers sync.WaitGroup
	defer informers.Wait()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	informers.Go(func() { svcInf.RunWithContext(ctx) })
	informers.Go(func() { sliceInf.RunWithContext(ctx) })
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.HasSynced, sliceInf.HasSynced) {
		return fmt.Errorf("proxy: caches did not sync: %w", ctx.Err())
	}
	annDone := make(chan struct{})
	if p.ann != nil {
		go func() { defer close(annDone); p.ann.run(ctx) }()
	} else {
		close(annDone)
	}
	// The announcer must have stopped before cleanup releases its IPs.
	cleanup := func() error { <-annDone; return p.cleanup() }

	full := true
	resync := time.NewTicker(p.cfg.SyncPeriod)
	defer resync.Stop()
	p.poke()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return cleanup()
		case <-resync.C:
			if err := p.w.Verify(); err != nil {
				klog.InfoS("proxy: kernel table differs, rewriting", "reason", err)
				full = true
				p.poke()
			}
		case <-p.trigger:
			if wait := p.cfg.MinSyncPeriod - time.Since(last); wait > 0 {
				select {
				case <-ctx.Done():
					return cleanup()
				case <-time.After(wait):
				}
			}
			last = time.Now()
			svcs, slices := nodeclient.List[*v1.Service](svcInf.GetStore()), nodeclient.List[*discoveryv1.EndpointSlice](sliceInf.GetStore())
			if err := p.Sync(svcs, slices, full); err != nil {
				klog.ErrorS(err, "proxy: sync failed, retrying")
				full = true
				go func() {
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
						p.poke()
					}
				}()
				continue
			}
			full = false
		}
	}
}

// Sync computes the table for the given objects and writes it (all of it
// when full), then drops conntrack entries of removed UDP endpoints.
func (p *Proxy) Sync(svcs []*v1.Service, slices []*discoveryv1.EndpointSlice, full bool) error {
	start := time.Now()
	if full || p.w.applied == nil {
		p.frags, p.merged = nil, nil
		full = true
	}
	st, changes := p.compute(svcs, slices)
	kind := "partial"
	var err error
	if full {
		kind = "full"
		err = p.w.Apply(st, true)
	} else {
		err = p.w.ApplyChanges(st, changes)
	}
	if err != nil {
		// The kernel may not hold what we think: start over next time.
		p.frags, p.merged = nil, nil
		metricSyncErrors.Inc()
		return err
	}
	metricSyncDuration.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	metricRules.Set(float64(st.Rules()))
	metricElements.Set(float64(st.Elements()))
	metricLastSync.SetToCurrentTime()
	// UDP "flows" that reached a frontend before it was served (routed,
	// not DNATed) would stay that way as long as packets keep coming.
	fresh := udpFrontendFilter{}
	for _, ch := range changes {
		if ch.new == nil {
			continue
		}
		for k := range ch.new.ServiceIPs {
			if k.Proto != protoUDP {
				continue
			}
			if ch.old != nil && ch.old.ServiceIPs[k] != "" && !full {
				continue
			}
			fresh[k] = struct{}{}
		}
	}
	p.w.clearConntrack(fresh)
	// A UDP flow keeps its DNAT to a removed endpoint as long as packets
	// keep coming: drop the entries so its next packet picks again.
	gone := udpEndpointFilter{}
	for ep := range p.udpServed {
		if _, ok := st.UDPEndpoints[ep]; !ok {
			gone[ep] = struct{}{}
		}
	}
	p.w.clearConntrack(gone)
	p.udpServed = maps.Clone(st.UDPEndpoints)
	local := maps.Clone(st.LocalEndpoints)
	p.local.Store(&local)
	if p.OnSync != nil {
		p.OnSync(st)
	}
	return nil
}

// clearConntrack deletes the conntrack entries f matches (UDP flows to a
// removed endpoint, or to a frontend before it was DNATed), so that their
// next packet goes through the Service rules again.
func (w *writer) clearConntrack(f interface {
	netlink.CustomConntrackFilter
	empty() bool
}) {
	if f.empty() {
		return
	}
	filters := []netlink.CustomConntrackFilter{f}
	h, err := w.netlinkHandle()
	if err != nil {
		klog.ErrorS(err, "proxy: conntrack cleanup")
		return
	}
	defer h.Close()
	if _, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, netlink.FAMILY_V4, filters...); err != nil {
		klog.ErrorS(err, "proxy: deleting conntrack entries of removed UDP endpoints")
	}
}

func (p *Proxy) cleanup() error {
	if !p.cfg.CleanupOnExit {
		return nil
	}
	var errs []error
	if p.ann != nil {
		errs = append(errs, p.ann.releaseAll())
	}
	errs = append(errs, p.w.Delete())
	return errors.Join(errs...)
}

// udpFrontendFilter matches UDP conntrack entries to one of its
// frontends that were not DNATed.
type udpFrontendFilter map[ipKey]struct{}

func (f udpFrontendFilter) empty() bool { return len(f) == 0 }

func (f udpFrontendFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != protoUDP || !flow.Reverse.SrcIP.Equal(flow.Forward.DstIP) {
		return false
	}
	ip := flow.Forward.DstIP.To4()
	if ip == nil {
		return false
	}
	k := ipKey{Proto: protoUDP, Port: flow.Forward.DstPort}
	copy(k.IP[:], ip)
	_, ok := f[k]
	return ok
}

func (f udpEndpointFilter) empty() bool { return len(f) == 0 }

// udpEndpointFilter matches UDP conntrack entries answered by one of its
// endpoints (reply source ip:port).
type udpEndpointFilter map[endpoint]struct{}

func (f udpEndpointFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	if flow.Forward.Protocol != protoUDP {
		return false
	}
	ip := flow.Reverse.SrcIP.To4()
	if ip == nil {
		return false
	}
	var ep endpoint
	copy(ep.IP[:], ip)
	ep.Port = flow.Reverse.SrcPort
	_, ok := f[ep]
	return ok
}

type cachedFragment struct {
	svc    *v1.Service
	slices []*discoveryv1.EndpointSlice
	frag   *State
}

// compute is Compute, reusing the part of every Service whose objects
// did not change since the last sync. It returns the whole State and the
// parts that changed.
func (p *Proxy) compute(svcs []*v1.Service, slices []*discoveryv1.EndpointSlice) (*State, []change) {
	bySvc := groupSlices(slices)
	next := make(map[string]cachedFragment, len(svcs))
	var changes []change
	for _, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		sls := bySvc[key]
		c, ok := p.frags[key]
		if !ok || c.svc != svc || !sameSlices(c.slices, sls) {
			nc := cachedFragment{svc: svc, slices: sls, frag: computeService(svc, sls, p.cfg.NodeName, p.cidr)}
			changes = append(changes, change{old: c.frag, new: nc.frag})
			c = nc
		}
		next[key] = c
	}
	for key, c := range p.frags {
		if _, ok := next[key]; !ok {
			changes = append(changes, change{old: c.frag})
		}
	}
	p.frags = next
	if p.merged == nil {
		p.merged = newState(p.cidr)
		for _, c := range next {
			p.merged.merge(c.frag)
		}
	} else {
		for _, ch := range changes {
			if ch.old != nil {
				p.merged.unmerge(ch.old)
			}
			if ch.new != nil {
				p.merged.merge(ch.new)
			}
		}
	}
	return p.merged, changes
}

func sameSlices(a, b []*discoveryv1.EndpointSlice) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
