package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/informers"
	networkinginformers "k8s.io/client-go/informers/networking/v1"
	"k8s.io/client-go/kubernetes"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/service/allocator"
	"k8s.io/kubernetes/pkg/registry/core/service/ipallocator"
	ipcontroller "k8s.io/kubernetes/pkg/registry/core/service/ipallocator/controller"
	"k8s.io/kubernetes/pkg/registry/core/service/portallocator"
	portcontroller "k8s.io/kubernetes/pkg/registry/core/service/portallocator/controller"
)

// repairInterval is how often the repair loops check every Service
// against the allocations, as kube-apiserver's (3 minutes).
const repairInterval = 3 * time.Minute

// nodePortsKey is where the NodePort bitmap is kept, as kube-apiserver
// keeps it.
var nodePortsKey = storage.Key("ranges", "", "servicenodeports")

// serviceAllocator gives Services their ClusterIPs and NodePorts with the
// state in etcd, so that apiservers sharing one etcd never hand out the
// same one, as kube-apiserver does it: a ClusterIP is a
// networking.k8s.io/v1 IPAddress object named by the address (ipAllocator,
// upstream's ipallocator algorithm: the create of an existing one fails,
// which is the compare-and-swap), the NodePorts a bitmap RangeAllocation
// updated with compare-and-swap (upstream's portallocator over
// rangeStore). Upstream's repair loops record the allocations of existing
// Services at start and release leaked ones.
type serviceAllocator struct {
	cidr      netip.Prefix
	portRange utilnet.PortRange
	ips       *ipAllocator
	ports     *portallocator.PortAllocator
	ranges    *rangeStore
	client    kubernetes.Interface
	// factory holds the informers of the IP allocator and the repair
	// loops (IPAddresses, ServiceCIDRs, Services).
	factory informers.SharedInformerFactory
}

func newServiceAllocator(s *Server, client kubernetes.Interface, cidr netip.Prefix, first, last int) (*serviceAllocator, error) {
	a := &serviceAllocator{
		cidr:      cidr,
		portRange: utilnet.PortRange{Base: first, Size: last - first + 1},
		client:    client,
		factory:   informers.NewSharedInformerFactory(client, 0),
	}
	a.ips = newIPAllocator(cidr, s, a.factory.Networking().V1().IPAddresses())
	store := s.store
	var err error
	a.ports, err = portallocator.New(a.portRange, func(max int, rangeSpec string, offset int) (allocator.Interface, error) {
		a.ranges = &rangeStore{
			alloc: allocator.NewAllocationMapWithOffset(max, rangeSpec, offset),
			store: store, key: nodePortsKey,
			resource: schema.GroupResource{Resource: "servicenodeportallocations"},
		}
		return a.ranges, nil
	})
	if err != nil {
		return nil, fmt.Errorf("node port allocator: %w", err)
	}
	// Requested before the factory starts.
	a.factory.Core().V1().Services().Informer()
	a.factory.Networking().V1().ServiceCIDRs().Informer()
	return a, nil
}

// start runs the informers until ctx ends and waits (at most until
// waitCtx ends) for their first listing: the IP allocator refuses to
// allocate before.
func (a *serviceAllocator) start(ctx, waitCtx context.Context) error {
	a.factory.Start(ctx.Done())
	for typ, ok := range a.factory.WaitForCacheSync(waitCtx.Done()) {
		if !ok {
			return fmt.Errorf("listing %v: %w", typ, waitCtx.Err())
		}
	}
	return nil
}

// repair runs, until ctx ends, kube-apiserver's two repair loops
// (ClusterIPs, once the default ServiceCIDR is stored, and NodePorts), and
// waits (at most until waitCtx ends) for their first pass: the one that
// records the allocations of the Services already stored (those written
// before a crash, or by an older version that kept them in memory).
func (a *serviceAllocator) repair(ctx, waitCtx context.Context) error {
	stop := make(chan struct{})
	go func() {
		<-ctx.Done()
		close(stop)
	}()
	portRepair := portcontroller.NewRepair(repairInterval, a.client.CoreV1(), a.client.EventsV1(), a.portRange, a.ranges)
	ipDone, portDone := make(chan struct{}), make(chan struct{})
	go func() {
		// The IP repair gives up for good when its first pass fails on
		// anything but a conflict: on AlreadyExists too, when the
		// Services' cache saw a Service before the IPAddresses' cache
		// saw its address (two watches), as at a start right after
		// bootstrap made default/kubernetes. Another repair then tries
		// again, as a restarted kube-apiserver would.
		first := sync.OnceFunc(func() { close(ipDone) })
		for ctx.Err() == nil {
			ipcontroller.NewRepairIPAddress(repairInterval, a.client,
				a.factory.Core().V1().Services(), a.factory.Networking().V1().ServiceCIDRs(), a.factory.Networking().V1().IPAddresses(),
			).RunUntil(first, stop)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	go portRepair.RunUntil(sync.OnceFunc(func() { close(portDone) }), stop)
	for name, done := range map[string]chan struct{}{"ClusterIP": ipDone, "NodePort": portDone} {
		select {
		case <-done:
		case <-waitCtx.Done():
			return fmt.Errorf("the first %s repair did not finish: %w", name, waitCtx.Err())
		}
	}
	return nil
}

// firstIP is the address of default/kubernetes.
func (a *serviceAllocator) firstIP() netip.Addr { return a.cidr.Addr().Next() }

// family is the one IP family of the service range: the cluster is
// single-stack.
func (a *serviceAllocator) family() corev1.IPFamily {
	if a.cidr.Addr().Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// checkFamilies refuses what a single-stack cluster cannot give, with the
// errors of upstream's service allocation (initIPFamilyFields): an
// address or family of the other family, dual-stack required. Headless
// Services without a selector have no address and may name any family.
func (a *serviceAllocator) checkFamilies(svc *corev1.Service) field.ErrorList {
	spec := &svc.Spec
	if spec.Type == corev1.ServiceTypeExternalName || (spec.ClusterIP == corev1.ClusterIPNone && len(spec.Selector) == 0) {
		return nil
	}
	var errs field.ErrorList
	for i, s := range spec.ClusterIPs {
		if s == corev1.ClusterIPNone {
			break
		}
		ip, err := netip.ParseAddr(s)
		if err != nil || i < len(spec.IPFamilies) {
			continue
		}
		fam := corev1.IPv4Protocol
		if !ip.Is4() {
			fam = corev1.IPv6Protocol
		}
		if fam != a.family() {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(i), spec.ClusterIPs, fmt.Sprintf("%s is not configured on this cluster", fam)))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if spec.IPFamilyPolicy != nil && *spec.IPFamilyPolicy == corev1.IPFamilyPolicyRequireDualStack {
		errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilyPolicy"), *spec.IPFamilyPolicy, "this cluster is not configured for dual-stack services"))
	}
	for i, f := range spec.IPFamilies {
		if f != a.family() {
			errs = append(errs, field.Invalid(field.NewPath("spec", "ipFamilies").Index(i), f, "not configured on this cluster"))
		}
	}
	return errs
}

// serviceTxn is what one allocation for a Service did, as upstream's
// service storage transaction: revert undoes it when the write does not
// happen; commit, when it does, makes the releases it deferred (what the
// old version held and the new one does not).
type serviceTxn struct {
	a        *serviceAllocator
	dryRun   bool
	newIPs   []string
	freeIPs  []string
	nodePort *portallocator.PortAllocationOperation
	// dryPorts are the node ports a dry run chose.
	dryPorts map[int]bool
}

// nextNodePort allocates a free node port. A dry run picks one the last
// state read leaves free (upstream's dry-run operation answers ports
// past the range's end, which validation here refuses).
func (t *serviceTxn) nextNodePort() (int, error) {
	if !t.dryRun {
		return t.nodePort.AllocateNext()
	}
	pr := t.a.portRange
	for p := pr.Base; p < pr.Base+pr.Size; p++ {
		if !t.dryPorts[p] && !t.a.ports.Has(p) {
			if t.dryPorts == nil {
				t.dryPorts = map[int]bool{}
			}
			t.dryPorts[p] = true
			return p, nil
		}
	}
	return 0, portallocator.ErrFull
}

func (t *serviceTxn) commit() {
	if t.dryRun {
		return
	}
	t.a.releaseIPs(t.freeIPs)
	if errs := t.nodePort.Commit(); len(errs) > 0 {
		klog.ErrorS(errors.Join(errs...), "releasing node ports after a Service update")
	}
	t.nodePort.Finish()
}

func (t *serviceTxn) revert() {
	if t.dryRun {
		return
	}
	t.a.releaseIPs(t.newIPs)
	t.nodePort.Finish()
}

func (a *serviceAllocator) releaseIPs(ips []string) {
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			a.ips.release(ip)
		}
	}
}

// release frees what a deleted Service held (upstream's
// releaseAllocatedResources).
func (a *serviceAllocator) release(svc *corev1.Service) {
	if svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		a.releaseIPs(svc.Spec.ClusterIPs)
	}
	for _, p := range nodePortsOf(svc) {
		if err := a.ports.Release(p); err != nil {
			klog.ErrorS(err, "releasing a node port", "service", klog.KObj(svc), "nodePort", p)
		}
	}
	if needsHealthCheck(svc) && svc.Spec.HealthCheckNodePort > 0 {
		if err := a.ports.Release(int(svc.Spec.HealthCheckNodePort)); err != nil {
			klog.ErrorS(err, "releasing a health check node port", "service", klog.KObj(svc), "nodePort", svc.Spec.HealthCheckNodePort)
		}
	}
}

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

func hasNodePorts(t corev1.ServiceType) bool {
	return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
}

// needsHealthCheck is upstream's apiservice.NeedsHealthCheck.
func needsHealthCheck(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// nodePortsOf are the node ports svc's ports hold.
func nodePortsOf(svc *corev1.Service) []int {
	var out []int
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			out = append(out, int(p.NodePort))
		}
	}
	return out
}

// allocateService fills in ClusterIP and NodePorts of svc (old: the
// stored version on update, whose values are kept when svc leaves them
// unset) and returns what it allocated; on error it has released it.
func (s *Server) allocateService(svc, old *corev1.Service, dryRun bool) (*serviceTxn, error) {
	gk := schema.GroupKind{Kind: "Service"}
	if old != nil && old.Spec.Type != svc.Spec.Type {
		// Drop what only the old type needed, unless the client changed it.
		external := svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer || len(svc.Spec.ExternalIPs) > 0
		if !external && svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
			svc.Spec.ExternalTrafficPolicy = ""
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			if svc.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
				svc.Spec.HealthCheckNodePort = 0
			}
			if svc.Spec.AllocateLoadBalancerNodePorts != nil && old.Spec.AllocateLoadBalancerNodePorts != nil && *svc.Spec.AllocateLoadBalancerNodePorts == *old.Spec.AllocateLoadBalancerNodePorts {
				svc.Spec.AllocateLoadBalancerNodePorts = nil
			}
		}
	}
	if errs := s.alloc.checkFamilies(svc); len(errs) > 0 {
		return nil, apierrors.NewInvalid(gk, svc.Name, errs)
	}
	spec := &svc.Spec
	if old != nil && spec.ClusterIP == "" && spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName {
		spec.ClusterIP, spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
	}
	txn := &serviceTxn{a: s.alloc, dryRun: dryRun, nodePort: portallocator.StartOperation(s.alloc.ports, dryRun)}
	done := false
	defer func() {
		if !done {
			txn.revert()
		}
	}()
	if err := s.alloc.allocateClusterIP(txn, svc, old); err != nil {
		return nil, err
	}
	if err := s.alloc.allocateNodePorts(txn, svc, old); err != nil {
		return nil, err
	}
	done = true
	return txn, nil
}

// allocateClusterIP is upstream's allocClusterIPs on create and
// updateClusterIPs on update, for one family.
func (a *serviceAllocator) allocateClusterIP(txn *serviceTxn, svc, old *corev1.Service) error {
	spec := &svc.Spec
	oldHasIP := old != nil && old.Spec.Type != corev1.ServiceTypeExternalName
	switch {
	case spec.Type == corev1.ServiceTypeExternalName:
		spec.ClusterIP, spec.ClusterIPs = "", nil
		if oldHasIP && old.Spec.ClusterIP != corev1.ClusterIPNone {
			txn.freeIPs = append(txn.freeIPs, old.Spec.ClusterIPs...)
		}
		return nil
	case spec.ClusterIP == corev1.ClusterIPNone:
		spec.ClusterIPs = []string{corev1.ClusterIPNone}
		return nil
	case oldHasIP:
		// The address stays the one allocated: validation refuses a change.
		return nil
	}
	want := spec.ClusterIP
	if want == "" && len(spec.ClusterIPs) > 0 {
		want = spec.ClusterIPs[0]
	}
	if want != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{want}
	}
	gk := schema.GroupKind{Kind: "Service"}
	path := field.NewPath("spec", "clusterIPs")
	ref := &networkingv1.ParentReference{Resource: "services", Namespace: svc.Namespace, Name: svc.Name}
	if want == "" {
		ip, err := a.ips.allocateNext(ref, txn.dryRun)
		if err != nil {
			if !errors.Is(err, ipallocator.ErrFull) {
				return apierrors.NewInvalid(gk, svc.Name, field.ErrorList{field.Invalid(path, spec.ClusterIPs, fmt.Sprintf("failed to allocate IP: %v", err))})
			}
			return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP for Service %q: %w", svc.Name, err))
		}
		spec.ClusterIP, spec.ClusterIPs = ip.String(), []string{ip.String()}
	} else {
		ip, err := netip.ParseAddr(want)
		if err != nil {
			return apierrors.NewInvalid(gk, svc.Name, field.ErrorList{field.Invalid(path.Index(0), want, "must be a valid IP address")})
		}
		if err := a.ips.allocate(ip, ref, txn.dryRun); err != nil {
			return apierrors.NewInvalid(gk, svc.Name, field.ErrorList{field.Invalid(path, spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %v: %v", want, err))})
		}
		spec.ClusterIP, spec.ClusterIPs = want, []string{want}
	}
	if !txn.dryRun {
		txn.newIPs = append(txn.newIPs, spec.ClusterIP)
	}
	return nil
}

// allocateNodePorts is upstream's txnAllocNodePorts on create and
// txnUpdateNodePorts on update.
func (a *serviceAllocator) allocateNodePorts(txn *serviceTxn, svc, old *corev1.Service) error {
	spec := &svc.Spec
	op := txn.nodePort
	if old != nil && hasNodePorts(old.Spec.Type) && (spec.Type == corev1.ServiceTypeExternalName || spec.Type == corev1.ServiceTypeClusterIP) {
		for _, p := range nodePortsOf(old) {
			op.ReleaseDeferred(p)
		}
	}
	if hasNodePorts(spec.Type) {
		if old != nil {
			// Kept by port and protocol when the update leaves them out.
			used := map[int32]bool{}
			for i := range spec.Ports {
				p := &spec.Ports[i]
				if p.NodePort != 0 {
					continue
				}
				for _, op := range old.Spec.Ports {
					if op.NodePort != 0 && op.Port == p.Port && op.Protocol == p.Protocol && !used[op.NodePort] {
						p.NodePort = op.NodePort
						used[op.NodePort] = true
						break
					}
				}
			}
		}
		var err error
		if old == nil {
			err = initNodePorts(svc, txn)
		} else {
			err = updateNodePorts(svc, old, txn)
		}
		if err != nil {
			return err
		}
	} else if spec.Type != corev1.ServiceTypeLoadBalancer {
		for i := range spec.Ports {
			spec.Ports[i].NodePort = 0
		}
	}
	needed := old != nil && needsHealthCheck(old)
	switch needs := needsHealthCheck(svc); {
	case needs && !needed:
		if err := allocHealthCheckNodePort(svc, txn); err != nil {
			return apierrors.NewInternalError(err)
		}
	case needed && !needs:
		op.ReleaseDeferred(int(old.Spec.HealthCheckNodePort))
	}
	return nil
}

func nodePortInvalid(svc *corev1.Service, i int, port int32, err error) error {
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, svc.Name, field.ErrorList{
		field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), port, err.Error())})
}

// initNodePorts is upstream's: ports of one port number (TCP and UDP of
// a DNS server) share their node port.
func initNodePorts(svc *corev1.Service, txn *serviceTxn) error {
	op := txn.nodePort
	byPort := map[int32]int32{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.NodePort == 0 && !needsNodePorts(svc) {
			continue
		}
		allocated := byPort[sp.Port]
		switch {
		case allocated == 0:
			if np := requestedNodePort(sp.Port, svc.Spec.Ports); np != 0 {
				if err := op.Allocate(int(np)); err != nil {
					return nodePortInvalid(svc, i, np, err)
				}
				sp.NodePort = np
			} else {
				np, err := txn.nextNodePort()
				if err != nil {
					return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
				}
				sp.NodePort = int32(np)
			}
			byPort[sp.Port] = sp.NodePort
		case sp.NodePort == 0:
			sp.NodePort = allocated
		case sp.NodePort != allocated:
			if err := op.Allocate(int(sp.NodePort)); err != nil {
				return nodePortInvalid(svc, i, sp.NodePort, err)
			}
		}
	}
	return nil
}

func requestedNodePort(port int32, ports []corev1.ServicePort) int32 {
	for _, p := range ports {
		if p.Port == port && p.NodePort != 0 {
			return p.NodePort
		}
	}
	return 0
}

// updateNodePorts is upstream's: the node ports the old version did not
// hold are allocated, those it held and the new one drops released once
// the update is written.
func updateNodePorts(svc, old *corev1.Service, txn *serviceTxn) error {
	op := txn.nodePort
	oldPorts := map[int]bool{}
	for _, p := range nodePortsOf(old) {
		oldPorts[p] = true
	}
	allocated := map[int]bool{}
	type portProto struct {
		port  int32
		proto corev1.Protocol
	}
	seen := map[portProto]bool{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.NodePort == 0 && !needsNodePorts(svc) {
			continue
		}
		if sp.NodePort != 0 {
			if np := int(sp.NodePort); !oldPorts[np] && !allocated[np] {
				if err := op.Allocate(np); err != nil {
					return nodePortInvalid(svc, i, sp.NodePort, err)
				}
				allocated[np] = true
			}
		} else {
			np, err := txn.nextNodePort()
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
			}
			sp.NodePort = int32(np)
		}
		key := portProto{sp.NodePort, sp.Protocol}
		if seen[key] {
			return fmt.Errorf("duplicate nodePort: {%s %d}", sp.Protocol, sp.NodePort)
		}
		seen[key] = true
	}
	kept := map[int]bool{}
	for _, p := range nodePortsOf(svc) {
		kept[p] = true
	}
	for _, p := range nodePortsOf(old) {
		if !kept[p] {
			op.ReleaseDeferred(p)
		}
	}
	return nil
}

func allocHealthCheckNodePort(svc *corev1.Service, txn *serviceTxn) error {
	if np := svc.Spec.HealthCheckNodePort; np != 0 {
		if err := txn.nodePort.Allocate(int(np)); err != nil {
			return fmt.Errorf("failed to allocate requested HealthCheck NodePort %v: %v", np, err)
		}
		return nil
	}
	np, err := txn.nextNodePort()
	if err != nil {
		return fmt.Errorf("failed to allocate a HealthCheck NodePort %v: %v", np, err)
	}
	svc.Spec.HealthCheckNodePort = int32(np)
	return nil
}

// ipAllocator hands out the addresses of the service range as upstream's
// ipallocator.Allocator does (the one kube-apiserver runs for each
// ServiceCIDR): an address is taken by creating the IPAddress object
// named by it, which fails when it exists; the search skips the
// addresses the informer's cache holds, starts at a random one, and
// prefers the upper part of the range, leaving the lower one to
// requested addresses (KEP-3070). It differs in two ways that change no
// outcome: the IPAddress is written through the server's own create path
// rather than over HTTP, and no allocation counts every IPAddress of the
// cache (upstream does, for metrics, even when they are off: a cost that
// grows with the number of Services).
type ipAllocator struct {
	s      *Server
	prefix netip.Prefix
	// first and last are the allocatable addresses (not the network's
	// nor, in IPv4, the broadcast one); dynamic allocation searches
	// [offset, last] first, then [first, offset).
	first, offset, last netip.Addr
	upper, lower        uint64
	lister              networkinglisters.IPAddressLister
	synced              cache.InformerSynced
}

func newIPAllocator(prefix netip.Prefix, s *Server, informer networkinginformers.IPAddressInformer) *ipAllocator {
	prefix = prefix.Masked()
	hostBits := prefix.Addr().BitLen() - prefix.Bits()
	size := uint64(1) << min(hostBits, 63) // IPv4 here: the config wants one
	first := prefix.Addr().Next()
	last := lastAddr(prefix)
	hosts := size - 1
	if prefix.Addr().Is4() {
		last = last.Prev()
		hosts--
	}
	// upstream's calculateRangeOffset: min(max(16, size/16), 256), none
	// for ranges of 16 addresses or fewer.
	var rangeOffset uint64
	if size > 16 {
		rangeOffset = min(max(16, size/16), 256)
	}
	return &ipAllocator{
		s: s, prefix: prefix, first: first, offset: addrAdd(first, rangeOffset), last: last,
		upper: hosts - rangeOffset, lower: rangeOffset,
		lister: informer.Lister(), synced: informer.Informer().HasSynced,
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func addrAdd(a netip.Addr, n uint64) netip.Addr {
	b := a.AsSlice()
	for i := len(b) - 1; i >= 0 && n > 0; i-- {
		sum := uint64(b[i]) + n&0xff
		b[i] = byte(sum)
		n = n>>8 + sum>>8
	}
	out, _ := netip.AddrFromSlice(b)
	return out
}

// contains is servicecidr.PrefixContainsIP: the network address, and
// IPv4's broadcast one, are outside.
func (a *ipAllocator) contains(ip netip.Addr) bool {
	return a.first.Compare(ip) <= 0 && ip.Compare(a.last) <= 0
}

// allocate takes ip for ref: ErrMismatchedNetwork outside the range (as
// kube-apiserver's allocator of ServiceCIDRs answers), ErrAllocated when
// taken.
func (a *ipAllocator) allocate(ip netip.Addr, ref *networkingv1.ParentReference, dryRun bool) error {
	if !a.synced() {
		return ipallocator.ErrNotReady
	}
	if !a.contains(ip) {
		return ipallocator.ErrMismatchedNetwork
	}
	if dryRun {
		return nil
	}
	return a.create(ip, ref)
}

// allocateNext takes a free address for ref (under dryRun the network
// address, as upstream answers without searching).
func (a *ipAllocator) allocateNext(ref *networkingv1.ParentReference, dryRun bool) (netip.Addr, error) {
	if !a.synced() {
		return netip.Addr{}, ipallocator.ErrNotReady
	}
	if dryRun {
		return a.prefix.Addr(), nil
	}
	ip, err := a.search(a.offset, a.last, a.upper, ref)
	if errors.Is(err, ipallocator.ErrFull) && a.lower > 0 {
		ip, err = a.search(a.first, a.offset.Prev(), a.lower, ref)
	}
	return ip, err
}

// search tries the n addresses of [first, last] from a random one.
func (a *ipAllocator) search(first, last netip.Addr, n uint64, ref *networkingv1.ParentReference) (netip.Addr, error) {
	if n == 0 {
		return netip.Addr{}, ipallocator.ErrFull
	}
	ip := addrAdd(first, rand.Uint64N(n))
	for range n {
		if _, err := a.lister.Get(ip.String()); apierrors.IsNotFound(err) {
			err := a.create(ip, ref)
			if err == nil {
				return ip, nil
			}
			// Another apiserver took it since the cache was filled.
			if !errors.Is(err, ipallocator.ErrAllocated) {
				return netip.Addr{}, err
			}
		}
		if ip = ip.Next(); ip.Compare(last) > 0 {
			ip = first
		}
	}
	return netip.Addr{}, ipallocator.ErrFull
}

// create writes the IPAddress of ip, labelled as upstream's allocator
// labels its own (the repair loop cleans only those).
func (a *ipAllocator) create(ip netip.Addr, ref *networkingv1.ParentReference) error {
	family := corev1.IPv4Protocol
	if ip.Is6() {
		family = corev1.IPv6Protocol
	}
	obj := &networkingv1.IPAddress{
		TypeMeta: metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "IPAddress"},
		ObjectMeta: metav1.ObjectMeta{Name: ip.String(), Labels: map[string]string{
			networkingv1.LabelIPAddressFamily: string(family),
			networkingv1.LabelManagedBy:       ipallocator.ControllerName,
		}},
		Spec: networkingv1.IPAddressSpec{ParentRef: ref},
	}
	k, err := internalCall(context.Background(), "networking.k8s.io", "v1", "ipaddresses", "", "")
	if err != nil {
		return err
	}
	if _, err := a.s.createObject(k, obj); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return ipallocator.ErrAllocated
		}
		return err
	}
	return nil
}

// release deletes the IPAddress of ip; a failure is logged and left to
// the repair loop, as upstream does.
func (a *ipAllocator) release(ip netip.Addr) {
	err := a.s.store.Delete(context.Background(), storage.Key("ipaddresses", "", ip.String()), &networkingv1.IPAddress{}, nil, nil)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		klog.ErrorS(err, "releasing a service IP", "ip", ip)
	}
}

// rangeStore keeps a bitmap allocator in etcd, as upstream's
// allocator/storage.Etcd does over the generic registry: every change
// reads the stored RangeAllocation, applies itself to it and writes it
// back only if nobody wrote in between (the store's GuaranteedUpdate
// compares the mod revision), retrying otherwise. It is also the
// RangeRegistry the repair loop reads and rewrites.
type rangeStore struct {
	// mu is held by the one write in flight; qmu guards queue, the
	// changes waiting for the next.
	mu       sync.Mutex
	qmu      sync.Mutex
	queue    []*rangeOp
	alloc    allocator.Snapshottable
	store    *storage.Store
	key      string
	resource schema.GroupResource
}

var (
	_ allocator.Interface = (*rangeStore)(nil)
)

// rangeOp is one change of the bitmap waiting to be written.
type rangeOp struct {
	kind   int // opAllocate, opAllocateNext, opRelease
	offset int
	ok     bool
	err    error
	done   chan struct{}
}

const (
	opAllocate = iota
	opAllocateNext
	opRelease
)

// run writes op, with the others waiting at the time, in one
// compare-and-swap: the changes an apiserver asks for while a write is in
// flight go together in the next one (a group commit), so that node port
// allocations do not queue one etcd round trip each behind r.mu.
func (r *rangeStore) run(op *rangeOp) {
	op.done = make(chan struct{})
	r.qmu.Lock()
	r.queue = append(r.queue, op)
	r.qmu.Unlock()
	r.mu.Lock()
	r.qmu.Lock()
	batch := r.queue
	r.queue = nil
	r.qmu.Unlock()
	if len(batch) > 0 {
		err := r.tryUpdate(func() error {
			for _, o := range batch {
				o.ok, o.err = false, nil
				switch o.kind {
				case opAllocate:
					o.ok, o.err = r.alloc.Allocate(o.offset)
				case opAllocateNext:
					o.offset, o.ok, o.err = r.alloc.AllocateNext()
				case opRelease:
					o.err = r.alloc.Release(o.offset)
					o.ok = o.err == nil
				}
			}
			return nil
		})
		for _, o := range batch {
			if err != nil {
				o.ok, o.err = false, err
			}
			close(o.done)
		}
	}
	r.mu.Unlock()
	<-op.done
}

func (r *rangeStore) Allocate(offset int) (bool, error) {
	op := &rangeOp{kind: opAllocate, offset: offset}
	r.run(op)
	return op.ok, op.err
}

func (r *rangeStore) AllocateNext() (int, bool, error) {
	op := &rangeOp{kind: opAllocateNext}
	r.run(op)
	return op.offset, op.ok, op.err
}

func (r *rangeStore) Release(offset int) error {
	op := &rangeOp{kind: opRelease, offset: offset}
	r.run(op)
	return op.err
}

// ForEach, Has and Free answer from the last state read.
func (r *rangeStore) ForEach(fn func(int)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.alloc.ForEach(fn)
}

func (r *rangeStore) Has(offset int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alloc.Has(offset)
}

func (r *rangeStore) Free() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alloc.Free()
}

func (r *rangeStore) Destroy() {}

// tryUpdate applies fn to the stored bitmap. The bitmap in memory is
// restored from the stored one at every try (upstream skips that when
// the revision is the last it wrote, which keeps a change whose write
// failed).
func (r *rangeStore) tryUpdate(fn func() error) error {
	err := r.store.GuaranteedUpdate(context.Background(), r.key, &corev1.RangeAllocation{}, func(cur runtime.Object) (runtime.Object, error) {
		existing := cur.(*corev1.RangeAllocation)
		if err := r.alloc.Restore(existing.Range, existing.Data); err != nil {
			return nil, err
		}
		if err := fn(); err != nil {
			return nil, err
		}
		existing.Range, existing.Data = r.alloc.Snapshot()
		return existing, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		// The repair loop writes the first one.
		return fmt.Errorf("cannot allocate resources of type %s at this time", r.resource.String())
	}
	return err
}

// Get is the stored RangeAllocation; an empty one (no resourceVersion)
// when there is none yet.
func (r *rangeStore) Get() (*api.RangeAllocation, error) {
	var cur corev1.RangeAllocation
	err := r.store.Get(context.Background(), r.key, &cur)
	if errors.Is(err, storage.ErrNotFound) {
		return &api.RangeAllocation{}, nil
	}
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return &api.RangeAllocation{ObjectMeta: cur.ObjectMeta, Range: cur.Range, Data: cur.Data}, nil
}

// CreateOrUpdate writes snapshot if what is stored is still the version
// it was made from (none when its resourceVersion is empty), and
// refuses with a Conflict otherwise.
func (r *rangeStore) CreateOrUpdate(snapshot *api.RangeAllocation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	ctx := context.Background()
	obj := &corev1.RangeAllocation{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "RangeAllocation"},
		ObjectMeta: *snapshot.ObjectMeta.DeepCopy(),
		Range:      snapshot.Range, Data: snapshot.Data,
	}
	if snapshot.ResourceVersion == "" {
		err := r.store.Create(ctx, r.key, obj)
		if errors.Is(err, storage.ErrAlreadyExists) {
			return apierrors.NewConflict(r.resource, "", fmt.Errorf("another caller has already initialized the resource"))
		}
		if err == nil {
			err = r.alloc.Restore(obj.Range, obj.Data)
		}
		return err
	}
	err := r.store.GuaranteedUpdate(ctx, r.key, &corev1.RangeAllocation{}, func(cur runtime.Object) (runtime.Object, error) {
		if cur.(*corev1.RangeAllocation).ResourceVersion != snapshot.ResourceVersion {
			return nil, apierrors.NewConflict(r.resource, "", fmt.Errorf("the provided resource version does not match"))
		}
		return obj, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return apierrors.NewConflict(r.resource, "", fmt.Errorf("the provided resource version does not match"))
	}
	if err != nil {
		return err
	}
	return r.alloc.Restore(obj.Range, obj.Data)
}

// serviceAllocation gives Services their ClusterIPs and NodePorts (the
// allocation Kubernetes' service REST storage does before validation)
// and frees them when the Service goes. An update's allocation waits in
// pending for the write's outcome: committed (the old version's
// releases made) or reverted. A retried update (a conflict in
// GuaranteedUpdate) reverts the attempt before.
type serviceAllocation struct {
	s       *Server
	mu      sync.Mutex
	pending map[*call]*serviceTxn
}

func newServiceAllocation(s *Server) *serviceAllocation {
	return &serviceAllocation{s: s, pending: map[*call]*serviceTxn{}}
}

func (*serviceAllocation) handles(gr schema.GroupResource) bool {
	return gr == schema.GroupResource{Resource: "services"}
}

func (a *serviceAllocation) admitCreate(k *call, obj runtime.Object) (func(), error) {
	txn, err := a.s.allocateService(obj.(*corev1.Service), nil, k.dryRun())
	if err != nil {
		return nil, err
	}
	return txn.revert, nil
}

func (a *serviceAllocation) admitUpdate(k *call, obj, cur runtime.Object) error {
	a.mu.Lock()
	prev := a.pending[k]
	delete(a.pending, k)
	a.mu.Unlock()
	if prev != nil {
		prev.revert()
	}
	txn, err := a.s.allocateService(obj.(*corev1.Service), cur.(*corev1.Service), k.dryRun())
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.pending[k] = txn
	a.mu.Unlock()
	return nil
}

// afterUpdate commits the update's allocation if it was written, or
// reverts it.
func (a *serviceAllocation) afterUpdate(k *call, err error) {
	a.mu.Lock()
	txn := a.pending[k]
	delete(a.pending, k)
	a.mu.Unlock()
	switch {
	case txn == nil:
	case err == nil:
		txn.commit()
	default:
		txn.revert()
	}
}

func (a *serviceAllocation) afterDelete(_ *call, gone runtime.Object) {
	a.s.alloc.release(gone.(*corev1.Service))
}
