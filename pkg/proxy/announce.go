package proxy

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"minik8s/pkg/netns"
	"minik8s/pkg/nodeclient"
)

// AnnouncerAnnotation names the node that holds a Service's LoadBalancer IP.
const AnnouncerAnnotation = "minik8s.io/lb-announcer"

// NodeLeaseNamespace holds the node heartbeat Leases.
const NodeLeaseNamespace = "kube-node-lease"

// announcer makes this node hold the LoadBalancer IPs it is chosen for:
// among nodes with a fresh Lease, the one with the highest rendezvous hash
// of (node, Service) holds all of that Service's ingress IPs.
type announcer struct {
	cfg     Config
	client  *nodeclient.Client
	svcs    cache.Store
	leases  cache.SharedIndexInformer
	netnsFd int
	poke    chan struct{}

	mu   sync.Mutex
	held map[string]bool // IPs this node holds on cfg.Interface
}

// newAnnouncer reads Services from svcs (an informer the caller runs) and
// node Leases from an informer of its own.
func newAnnouncer(cfg Config, client *nodeclient.Client, svcs cache.SharedIndexInformer) *announcer {
	a := &announcer{
		cfg: cfg, client: client, svcs: svcs.GetStore(),
		leases: nodeclient.NewInformer(client.Leases(NodeLeaseNamespace).ListWatch(nil), &coordinationv1.Lease{}),
		poke:   make(chan struct{}, 1),
		held:   map[string]bool{},
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { a.kick() },
		UpdateFunc: func(any, any) { a.kick() },
		DeleteFunc: func(any) { a.kick() },
	}
	_, _ = a.leases.AddEventHandler(h)
	_, _ = svcs.AddEventHandler(h)
	return a
}

func (a *announcer) kick() {
	select {
	case a.poke <- struct{}{}:
	default:
	}
}

func (a *announcer) run(ctx context.Context) {
	ctx, stop := context.WithCancel(ctx)
	leasesDone := make(chan struct{})
	go func() { defer close(leasesDone); a.leases.RunWithContext(ctx) }()
	defer func() { stop(); <-leasesDone }()
	if !cache.WaitForCacheSync(ctx.Done(), a.leases.HasSynced) {
		return
	}
	a.adoptExisting()
	t := time.NewTicker(a.cfg.LeaseCheckPeriod)
	defer t.Stop()
	for {
		a.reconcile(ctx, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.poke:
		}
	}
}

// FreshNodes returns the names of nodes whose Lease is still valid at now.
func FreshNodes(leases []*coordinationv1.Lease, now time.Time) []string {
	var out []string
	for _, l := range leases {
		if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
			continue
		}
		exp := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
		if exp.After(now) {
			name := l.Name
			if l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" {
				name = *l.Spec.HolderIdentity
			}
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Announcer picks the node that holds the LoadBalancer IPs of the Service
// key ("namespace/name") among nodes: rendezvous hashing, so a node
// leaving or joining moves only the Services it wins or loses.
func Announcer(key string, nodes []string) string {
	var best string
	var bestH uint64
	for _, n := range nodes {
		h := fnv.New64a()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(key))
		if v := h.Sum64(); best == "" || v > bestH || (v == bestH && n < best) {
			best, bestH = n, v
		}
	}
	return best
}

func (a *announcer) label() string {
	l := a.cfg.Interface + ":lb"
	if len(l) > 15 {
		return ""
	}
	return l
}

func (a *announcer) handle() (h *netlink.Handle, err error) {
	err = inNetNS(a.netnsFd, func() error { h, err = netlink.NewHandle(); return err })
	return h, err
}

// adoptExisting takes over addresses a previous run left (by label).
func (a *announcer) adoptExisting() {
	l := a.label()
	if l == "" {
		return
	}
	h, err := a.handle()
	if err != nil {
		return
	}
	defer h.Close()
	link, err := h.LinkByName(a.cfg.Interface)
	if err != nil {
		return
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ad := range addrs {
		if ad.Label == l {
			a.held[ad.IP.String()] = true
		}
	}
}

func (a *announcer) reconcile(ctx context.Context, now time.Time) {
	fresh := FreshNodes(nodeclient.List[*coordinationv1.Lease](a.leases.GetStore()), now)
	want := map[string]bool{}
	for _, svc := range nodeclient.List[*v1.Service](a.svcs) {
		if svc.Spec.Type != v1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		if Announcer(key, fresh) != a.cfg.NodeName {
			continue
		}
		for _, ing := range svc.Status.LoadBalancer.Ingress {
			if ip := net.ParseIP(ing.IP).To4(); ip != nil {
				want[ip.String()] = true
			}
		}
		if svc.Annotations[AnnouncerAnnotation] != a.cfg.NodeName {
			a.annotate(ctx, svc)
		}
	}
	a.apply(want)
}

func (a *announcer) annotate(ctx context.Context, svc *v1.Service) {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnouncerAnnotation: a.cfg.NodeName}}})
	if _, err := a.client.Services(svc.Namespace).Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		klog.ErrorS(err, "proxy: recording LB announcer", "service", svc.Namespace+"/"+svc.Name)
	}
}

// apply makes the held addresses equal to want.
func (a *announcer) apply(want map[string]bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, err := a.handle()
	if err != nil {
		klog.ErrorS(err, "proxy: netlink")
		return
	}
	defer h.Close()
	link, err := h.LinkByName(a.cfg.Interface)
	if err != nil {
		klog.ErrorS(err, "proxy: LB interface", "interface", a.cfg.Interface)
		return
	}
	for ip := range want {
		if a.held[ip] {
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(ip).To4(), Mask: net.CIDRMask(32, 32)}, Label: a.label()}
		if err := h.AddrReplace(link, addr); err != nil {
			klog.ErrorS(err, "proxy: adding LB IP", "ip", ip)
			continue
		}
		a.held[ip] = true
		klog.InfoS("proxy: announcing LB IP", "ip", ip, "interface", a.cfg.Interface)
		if err := a.gratuitousARP(link, net.ParseIP(ip).To4()); err != nil {
			klog.ErrorS(err, "proxy: gratuitous ARP", "ip", ip)
		}
	}
	for ip := range a.held {
		if want[ip] {
			continue
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(ip).To4(), Mask: net.CIDRMask(32, 32)}}
		if err := h.AddrDel(link, addr); err != nil {
			klog.ErrorS(err, "proxy: removing LB IP", "ip", ip)
		}
		delete(a.held, ip)
		klog.InfoS("proxy: no longer announcing LB IP", "ip", ip)
	}
}

func (a *announcer) releaseAll() error {
	a.apply(map[string]bool{})
	return nil
}

// Held returns the LB IPs this node holds.
func (a *announcer) Held() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for ip := range a.held {
		out = append(out, ip)
	}
	sort.Strings(out)
	return out
}

// inNetNS runs fn in the network namespace fd (0: the process's own).
func inNetNS(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	return netns.DoFd(fd, fn)
}
