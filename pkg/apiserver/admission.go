package apiserver

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/netip"
	"sync"

	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
)

// allocator hands out ClusterIPs and NodePorts. The Services in etcd are
// the record: the maps are rebuilt from them at start, so allocations
// survive restarts. Each address and port is owned by "ns/name".
type allocator struct {
	mu        sync.Mutex
	cidr      netip.Prefix
	size      int64
	portFirst int
	portLast  int
	ips       map[netip.Addr]string
	ports     map[int32]string
}

func newAllocator(cidr netip.Prefix, first, last int) *allocator {
	return &allocator{
		cidr: cidr, size: int64(1) << (32 - cidr.Bits()),
		portFirst: first, portLast: last,
		ips: map[netip.Addr]string{}, ports: map[int32]string{},
	}
}

func (a *allocator) rebuild(ctx context.Context, s *storage.Store) error {
	list, err := s.List(ctx, storage.Prefix("services", ""), func() runtime.Object { return &corev1.Service{} }, storage.ListOptions{})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, obj := range list.Items {
		svc := obj.(*corev1.Service)
		owner := svc.Namespace + "/" + svc.Name
		for _, ip := range serviceIPs(svc) {
			a.ips[ip] = owner
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				a.ports[p.NodePort] = owner
			}
		}
	}
	return nil
}

func serviceIPs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, s := range append([]string{svc.Spec.ClusterIP}, svc.Spec.ClusterIPs...) {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip)
		}
	}
	return out
}

// nth is the n-th address of the range.
func (a *allocator) nth(n int64) netip.Addr {
	base := new(big.Int).SetBytes(a.cidr.Addr().AsSlice())
	base.Add(base, big.NewInt(n))
	var b [4]byte
	base.FillBytes(b[:])
	return netip.AddrFrom4(b)
}

func (a *allocator) firstIP() netip.Addr { return a.nth(1) }

// allocateIP gives owner the requested address if free (or already its),
// or a free one when requested is empty.
func (a *allocator) allocateIP(owner, requested string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if requested != "" {
		ip, err := netip.ParseAddr(requested)
		if err != nil {
			return "", fmt.Errorf("must be a valid IP address")
		}
		if !a.cidr.Contains(ip) || ip == a.nth(0) || ip == a.nth(a.size-1) {
			return "", fmt.Errorf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", requested, requested, a.cidr)
		}
		if o, ok := a.ips[ip]; ok && o != owner {
			return "", fmt.Errorf("failed to allocate IP %s: provided IP is already allocated", requested)
		}
		a.ips[ip] = owner
		return ip.String(), nil
	}
	for ip, o := range a.ips {
		if o == owner {
			return ip.String(), nil
		}
	}
	n := a.size - 2
	start := rand.Int64N(n)
	for i := int64(0); i < n; i++ {
		ip := a.nth(1 + (start+i)%n)
		if _, ok := a.ips[ip]; !ok {
			a.ips[ip] = owner
			return ip.String(), nil
		}
	}
	return "", fmt.Errorf("failed to allocate a ClusterIP: range %s is full", a.cidr)
}

func (a *allocator) allocatePort(owner string, requested int32, avoid map[int32]bool) (int32, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if requested != 0 {
		if int(requested) < a.portFirst || int(requested) > a.portLast {
			return 0, fmt.Errorf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portFirst, a.portLast)
		}
		if o, ok := a.ports[requested]; ok && o != owner {
			return 0, fmt.Errorf("provided port is already allocated")
		}
		a.ports[requested] = owner
		return requested, nil
	}
	n := a.portLast - a.portFirst + 1
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		p := int32(a.portFirst + (start+i)%n)
		if _, ok := a.ports[p]; !ok && !avoid[p] {
			a.ports[p] = owner
			return p, nil
		}
	}
	return 0, fmt.Errorf("range %d-%d is full", a.portFirst, a.portLast)
}

// retain keeps exactly svc's allocations for owner (svc nil: none).
func (a *allocator) retain(owner string, svc *corev1.Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	keepIP := map[netip.Addr]bool{}
	keepPort := map[int32]bool{}
	if svc != nil {
		for _, ip := range serviceIPs(svc) {
			keepIP[ip] = true
		}
		for _, p := range svc.Spec.Ports {
			keepPort[p.NodePort] = true
		}
	}
	for ip, o := range a.ips {
		if o == owner && !keepIP[ip] {
			delete(a.ips, ip)
		}
	}
	for p, o := range a.ports {
		if o == owner && !keepPort[p] {
			delete(a.ports, p)
		}
	}
	if svc != nil {
		for ip := range keepIP {
			if _, ok := a.ips[ip]; !ok {
				a.ips[ip] = owner
			}
		}
		for p := range keepPort {
			if _, ok := a.ports[p]; !ok && p != 0 {
				a.ports[p] = owner
			}
		}
	}
}

// family is the one IP family of the service range: the cluster is
// single-stack.
func (a *allocator) family() corev1.IPFamily {
	if a.cidr.Addr().Is4() {
		return corev1.IPv4Protocol
	}
	return corev1.IPv6Protocol
}

// checkFamilies refuses what a single-stack cluster cannot give, with the
// errors of upstream's service allocation (initIPFamilyFields): an
// address or family of the other family, dual-stack required. Headless
// Services without a selector have no address and may name any family.
func (a *allocator) checkFamilies(svc *corev1.Service) field.ErrorList {
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

func needsNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// allocateService fills in ClusterIP and NodePorts of svc (old: the
// stored version on update, whose values are kept when svc leaves them
// unset).
func (s *Server) allocateService(svc, old *corev1.Service) error {
	owner := svc.Namespace + "/" + svc.Name
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
		return apierrors.NewInvalid(gk, svc.Name, errs)
	}
	var errs field.ErrorList
	spec := &svc.Spec
	if old != nil && spec.ClusterIP == "" && spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName {
		spec.ClusterIP, spec.ClusterIPs = old.Spec.ClusterIP, old.Spec.ClusterIPs
	}
	switch {
	case spec.Type == corev1.ServiceTypeExternalName:
		spec.ClusterIP, spec.ClusterIPs = "", nil
	case spec.ClusterIP == corev1.ClusterIPNone:
		spec.ClusterIPs = []string{corev1.ClusterIPNone}
	default:
		want := spec.ClusterIP
		if want == "" && len(spec.ClusterIPs) > 0 {
			want = spec.ClusterIPs[0]
		}
		ip, err := s.alloc.allocateIP(owner, want)
		if err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), want, err.Error()))
		} else {
			spec.ClusterIP, spec.ClusterIPs = ip, []string{ip}
		}
	}
	if needsNodePorts(svc) {
		used := map[int32]bool{}
		for i := range spec.Ports {
			p := &spec.Ports[i]
			if p.NodePort == 0 && old != nil {
				for _, op := range old.Spec.Ports {
					if op.NodePort != 0 && op.Port == p.Port && op.Protocol == p.Protocol && !used[op.NodePort] {
						p.NodePort = op.NodePort
						break
					}
				}
			}
			if p.NodePort != 0 && used[p.NodePort] {
				// The same node port may serve two protocols of one port.
				continue
			}
			np, err := s.alloc.allocatePort(owner, p.NodePort, used)
			if err != nil {
				errs = append(errs, field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort, err.Error()))
				continue
			}
			p.NodePort = np
			used[np] = true
		}
	} else {
		for i := range spec.Ports {
			if spec.Type != corev1.ServiceTypeLoadBalancer {
				spec.Ports[i].NodePort = 0
			}
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(gk, svc.Name, errs)
	}
	return nil
}

var (
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
)

func tolerates(pod *corev1.Pod, taint *corev1.Taint) bool {
	for i := range pod.Spec.Tolerations {
		if pod.Spec.Tolerations[i].ToleratesTaint(klog.Background(), taint, false) {
			return true
		}
	}
	return false
}

// admissionPlugin is one step of the admission chain, in Kubernetes'
// order; like upstream's plugins, each says which resources it handles,
// so the generic handlers never ask what kind an object is. A plugin
// implements any of the hooks below.
type admissionPlugin interface {
	handles(gr schema.GroupResource) bool
}

// createAdmitter mutates or refuses an object before it is validated and
// stored; release undoes what it reserved when the create does not
// happen.
type createAdmitter interface {
	admitCreate(k *call, obj runtime.Object) (release func(), err error)
}

// createValidator refuses a valid object before it is stored: the
// validating admission that runs after the object's validation.
type createValidator interface {
	validateCreate(k *call, obj runtime.Object) error
}

// updateAdmitter mutates or refuses an update (cur is the stored object).
type updateAdmitter interface {
	admitUpdate(k *call, obj, cur runtime.Object) error
}

// statusUpdateAdmitter refuses a write of a status-like subresource
// (pods/status, nodes/status, …), which skips the updateAdmitters.
type statusUpdateAdmitter interface {
	admitStatusUpdate(k *call, obj, cur runtime.Object) error
}

// deleteAdmitter refuses a delete of cur before it happens.
type deleteAdmitter interface {
	admitDelete(k *call, cur runtime.Object) error
}

// subresourceCreateAdmitter refuses a create of a subresource that
// stores no object of its own (pods/eviction): obj is the request's body.
type subresourceCreateAdmitter interface {
	admitSubresourceCreate(k *call, obj runtime.Object) error
}

// writeObserver learns that the object of k was updated, or deleted
// (gone), whether or not the write happened.
type writeObserver interface {
	afterUpdate(k *call)
	afterDelete(k *call, gone runtime.Object)
}

func (s *Server) plugins(k *call) []admissionPlugin {
	var out []admissionPlugin
	for _, p := range s.admission {
		if p.handles(k.gr()) {
			out = append(out, p)
		}
	}
	return out
}

// admitCreate runs the chain's create hooks; the returned func undoes
// their reservations when the create does not happen.
func (s *Server) admitCreate(k *call, obj runtime.Object) (func(), error) {
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, p := range s.plugins(k) {
		a, ok := p.(createAdmitter)
		if !ok {
			continue
		}
		r, err := a.admitCreate(k, obj)
		if r != nil {
			releases = append(releases, r)
		}
		if err != nil {
			release()
			return func() {}, err
		}
	}
	return release, nil
}

func (s *Server) validateCreate(k *call, obj runtime.Object) error {
	for _, p := range s.plugins(k) {
		if v, ok := p.(createValidator); ok {
			if err := v.validateCreate(k, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) admitUpdate(k *call, obj, cur runtime.Object) error {
	for _, p := range s.plugins(k) {
		if a, ok := p.(updateAdmitter); ok {
			if err := a.admitUpdate(k, obj, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) admitStatusUpdate(k *call, obj, cur runtime.Object) error {
	for _, p := range s.plugins(k) {
		if a, ok := p.(statusUpdateAdmitter); ok {
			if err := a.admitStatusUpdate(k, obj, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

// admitDelete runs for DELETE requests only: the delete an eviction
// makes was admitted as the eviction's create, as upstream's eviction
// REST deletes without admission.
func (s *Server) admitDelete(k *call, cur runtime.Object) error {
	if k.info != nil && k.info.Subresource != "" {
		return nil
	}
	for _, p := range s.plugins(k) {
		if a, ok := p.(deleteAdmitter); ok {
			if err := a.admitDelete(k, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) admitSubresourceCreate(k *call, obj runtime.Object) error {
	for _, p := range s.plugins(k) {
		if a, ok := p.(subresourceCreateAdmitter); ok {
			if err := a.admitSubresourceCreate(k, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) afterUpdate(k *call) {
	for _, p := range s.plugins(k) {
		if o, ok := p.(writeObserver); ok {
			o.afterUpdate(k)
		}
	}
}

func (s *Server) admitDeleted(k *call, gone runtime.Object) {
	for _, p := range s.plugins(k) {
		if o, ok := p.(writeObserver); ok {
			o.afterDelete(k, gone)
		}
	}
}

// defaultTolerationSeconds is Kubernetes' DefaultTolerationSeconds
// admission: pods tolerate not-ready and unreachable nodes for a while.
type defaultTolerationSeconds struct {
	notReady, unreachable int64
}

func (defaultTolerationSeconds) handles(gr schema.GroupResource) bool {
	return gr == schema.GroupResource{Resource: "pods"}
}

func (d defaultTolerationSeconds) admitCreate(_ *call, obj runtime.Object) (func(), error) {
	pod := obj.(*corev1.Pod)
	if !tolerates(pod, &notReadyTaint) {
		secs := d.notReady
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
		})
	}
	if !tolerates(pod, &unreachableTaint) {
		secs := d.unreachable
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
		})
	}
	return nil, nil
}

// serviceAllocation gives Services their ClusterIPs and NodePorts (the
// allocation Kubernetes' service REST storage does before validation)
// and frees them when the Service goes.
type serviceAllocation struct{ s *Server }

func (serviceAllocation) handles(gr schema.GroupResource) bool {
	return gr == schema.GroupResource{Resource: "services"}
}

func (a serviceAllocation) admitCreate(k *call, obj runtime.Object) (func(), error) {
	svc := obj.(*corev1.Service)
	owner := svc.Namespace + "/" + svc.Name
	release := func() { a.s.alloc.retain(owner, a.s.storedService(k.ctx(), svc.Namespace, svc.Name)) }
	if err := a.s.allocateService(svc, nil); err != nil {
		return release, err
	}
	return release, nil
}

func (a serviceAllocation) admitUpdate(_ *call, obj, cur runtime.Object) error {
	return a.s.allocateService(obj.(*corev1.Service), cur.(*corev1.Service))
}

// afterUpdate makes the allocations match what is stored now.
func (a serviceAllocation) afterUpdate(k *call) {
	a.s.alloc.retain(k.ns+"/"+k.name, a.s.storedService(k.ctx(), k.ns, k.name))
}

func (a serviceAllocation) afterDelete(k *call, gone runtime.Object) {
	svc := gone.(*corev1.Service)
	a.s.alloc.retain(svc.Namespace+"/"+svc.Name, a.s.storedService(context.WithoutCancel(k.ctx()), svc.Namespace, svc.Name))
}

func (s *Server) storedService(ctx context.Context, ns, name string) *corev1.Service {
	var svc corev1.Service
	if err := s.store.Get(ctx, storage.Key("services", ns, name), &svc); err != nil {
		return nil
	}
	return &svc
}
