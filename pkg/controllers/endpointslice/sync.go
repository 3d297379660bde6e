package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/cache"
)

func metaOf(obj any) (metav1.Object, error) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	return meta.Accessor(obj)
}

// endpoint is one pod as the Service sees it.
type endpoint struct {
	pod                         *corev1.Pod
	ip                          string
	ready, serving, terminating bool
}

// group is the endpoints that share one resolution of the Service's ports.
type group struct {
	key         string
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   []endpoint
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.svcLister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return c.deleteAll(ctx, ns, name)
	}
	if err != nil {
		return err
	}
	if svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	pods, err := c.podLister.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return err
	}
	groups := c.groupEndpoints(svc, pods)
	return errors.Join(c.syncSlices(ctx, svc, groups), c.syncEndpoints(ctx, svc, groups))
}

func (c *Controller) groupEndpoints(svc *corev1.Service, pods []*corev1.Pod) []*group {
	byKey := map[string]*group{}
	for _, pod := range pods {
		if pod.Status.PodIP == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		ep := endpoint{pod: pod, ip: pod.Status.PodIP, terminating: pod.DeletionTimestamp != nil}
		usable := true
		if pod.Spec.NodeName != "" {
			if node, err := c.nodeLister.Get(pod.Spec.NodeName); err == nil {
				usable = nodeUsable(node)
			}
		}
		ep.serving = podReady(pod) && usable
		ep.ready = ep.serving && !ep.terminating
		if svc.Spec.PublishNotReadyAddresses {
			ep.ready, ep.serving = true, true
		}
		at := discoveryv1.AddressTypeIPv4
		if strings.Contains(ep.ip, ":") {
			at = discoveryv1.AddressTypeIPv6
		}
		ports := resolvePorts(svc, pod)
		k := string(at) + "|" + portsKey(ports)
		g, ok := byKey[k]
		if !ok {
			g = &group{key: k, addressType: at, ports: ports}
			byKey[k] = g
		}
		g.endpoints = append(g.endpoints, ep)
	}
	out := make([]*group, 0, len(byKey))
	for _, g := range byKey {
		sort.Slice(g.endpoints, func(i, j int) bool { return g.endpoints[i].pod.Name < g.endpoints[j].pod.Name })
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// resolvePorts maps each Service port to the pod's port: a number as is, a
// name through the pod's container ports (a name the pod lacks drops that
// port for this pod, as upstream does).
func resolvePorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	var out []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		var port int32
		switch {
		case sp.TargetPort.IntValue() > 0:
			port = int32(sp.TargetPort.IntValue())
		case sp.TargetPort.StrVal != "":
			port = findNamedPort(pod, sp.TargetPort.StrVal, sp.Protocol)
		default:
			port = sp.Port
		}
		if port == 0 {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

func findNamedPort(pod *corev1.Pod, name string, proto corev1.Protocol) int32 {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, ctr := range pod.Spec.Containers {
		for _, p := range ctr.Ports {
			pp := p.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if p.Name == name && pp == proto {
				return p.ContainerPort
			}
		}
	}
	return 0
}

func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("%s/%d/%s", *p.Name, *p.Port, *p.Protocol)
	}
	return strings.Join(parts, ",")
}

func shortHash(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func sliceName(svc string, groupKey string, index int) string {
	if len(svc) > 40 {
		svc = svc[:40]
	}
	n := svc + "-" + shortHash(groupKey)
	if index > 0 {
		n = fmt.Sprintf("%s-%d", n, index)
	}
	return n
}

// desiredSlices cuts each group into slices of MaxEndpointsPerSlice. Names
// are derived from the Service and the port resolution, so a repeated sync
// (or a restarted controller) writes the same objects instead of new ones.
func desiredSlices(svc *corev1.Service, groups []*group) []*discoveryv1.EndpointSlice {
	t := true
	var out []*discoveryv1.EndpointSlice
	for _, g := range groups {
		for i := 0; i*MaxEndpointsPerSlice < len(g.endpoints); i++ {
			chunk := g.endpoints[i*MaxEndpointsPerSlice : min((i+1)*MaxEndpointsPerSlice, len(g.endpoints))]
			s := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Name:      sliceName(svc.Name, g.key, i),
					Namespace: svc.Namespace,
					Labels:    sliceLabels(svc),
					OwnerReferences: []metav1.OwnerReference{{
						APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
						Controller: &t, BlockOwnerDeletion: &t,
					}},
				},
				AddressType: g.addressType,
				Ports:       g.ports,
			}
			for _, ep := range chunk {
				ready, serving, terminating := ep.ready, ep.serving, ep.terminating
				e := discoveryv1.Endpoint{
					Addresses:  []string{ep.ip},
					Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating},
					TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ep.pod.Namespace, Name: ep.pod.Name, UID: ep.pod.UID},
				}
				if ep.pod.Spec.NodeName != "" {
					nn := ep.pod.Spec.NodeName
					e.NodeName = &nn
				}
				// As upstream's podToEndpoint: a pod whose subdomain names
				// this Service is known by its hostname (cluster DNS answers
				// <hostname>.<service>.<namespace>.svc.<domain>).
				if h := ep.pod.Spec.Hostname; h != "" && ep.pod.Spec.Subdomain == svc.Name && ep.pod.Namespace == svc.Namespace {
					e.Hostname = &h
				}
				s.Endpoints = append(s.Endpoints, e)
			}
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = append(out, placeholderSlice(svc))
	}
	return out
}

// placeholderSlice is the one empty slice of a Service no pod backs, as
// upstream's reconciler keeps: clients that list a Service's slices see it
// has none rather than that no controller handled it (the conformance
// test of a selector that matches no pods waits for it).
func placeholderSlice(svc *corev1.Service) *discoveryv1.EndpointSlice {
	t := true
	at := discoveryv1.AddressTypeIPv4
	if len(svc.Spec.IPFamilies) > 0 && svc.Spec.IPFamilies[0] == corev1.IPv6Protocol {
		at = discoveryv1.AddressTypeIPv6
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      sliceName(svc.Name, "placeholder", 0),
			Namespace: svc.Namespace,
			Labels:    sliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: &t, BlockOwnerDeletion: &t,
			}},
		},
		AddressType: at,
		Endpoints:   []discoveryv1.Endpoint{},
		Ports:       []discoveryv1.EndpointPort{},
	}
}

func sliceLabels(svc *corev1.Service) map[string]string {
	l := map[string]string{}
	for k, v := range svc.Labels {
		l[k] = v
	}
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[corev1.IsHeadlessService] = ""
	}
	return l
}

func (c *Controller) ownSlices(ns, svc string) ([]*discoveryv1.EndpointSlice, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: ManagedBy})
	return c.sliceLister.EndpointSlices(ns).List(sel)
}

func (c *Controller) syncSlices(ctx context.Context, svc *corev1.Service, groups []*group) error {
	existing, err := c.ownSlices(svc.Namespace, svc.Name)
	if err != nil {
		return err
	}
	have := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		have[s.Name] = s
	}
	client := c.client.DiscoveryV1().EndpointSlices(svc.Namespace)
	var errs []error
	for _, want := range desiredSlices(svc, groups) {
		cur, ok := have[want.Name]
		delete(have, want.Name)
		switch {
		case !ok:
			if _, err := client.Create(ctx, want, metav1.CreateOptions{}); err != nil && !namespaceTerminating(err) {
				errs = append(errs, err)
			}
		case cur.AddressType != want.AddressType:
			// addressType is immutable: replace the slice.
			if err := client.Delete(ctx, cur.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case !equality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) || !equality.Semantic.DeepEqual(cur.Ports, want.Ports) ||
			!equality.Semantic.DeepEqual(cur.Labels, want.Labels) || !equality.Semantic.DeepEqual(cur.OwnerReferences, want.OwnerReferences):
			upd := cur.DeepCopy()
			upd.Labels, upd.OwnerReferences, upd.Endpoints, upd.Ports = want.Labels, want.OwnerReferences, want.Endpoints, want.Ports
			if _, err := client.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for name := range have {
		if err := client.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// desiredSubsets mirrors the groups into core/v1 Endpoints: ready pods in
// addresses, not-ready ones in notReadyAddresses, terminating ones left out.
func desiredSubsets(svc *corev1.Service, groups []*group) []corev1.EndpointSubset {
	var out []corev1.EndpointSubset
	for _, g := range groups {
		var sub corev1.EndpointSubset
		for _, ep := range g.endpoints {
			if ep.terminating {
				continue
			}
			a := corev1.EndpointAddress{
				IP:        ep.ip,
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ep.pod.Namespace, Name: ep.pod.Name, UID: ep.pod.UID},
			}
			if h := ep.pod.Spec.Hostname; h != "" && ep.pod.Spec.Subdomain == svc.Name && ep.pod.Namespace == svc.Namespace {
				a.Hostname = h
			}
			if ep.pod.Spec.NodeName != "" {
				nn := ep.pod.Spec.NodeName
				a.NodeName = &nn
			}
			if ep.ready {
				sub.Addresses = append(sub.Addresses, a)
			} else {
				sub.NotReadyAddresses = append(sub.NotReadyAddresses, a)
			}
		}
		if len(sub.Addresses)+len(sub.NotReadyAddresses) == 0 {
			continue
		}
		sort.Slice(sub.Addresses, func(i, j int) bool { return sub.Addresses[i].IP < sub.Addresses[j].IP })
		sort.Slice(sub.NotReadyAddresses, func(i, j int) bool { return sub.NotReadyAddresses[i].IP < sub.NotReadyAddresses[j].IP })
		for _, p := range g.ports {
			sub.Ports = append(sub.Ports, corev1.EndpointPort{Name: *p.Name, Port: *p.Port, Protocol: *p.Protocol, AppProtocol: p.AppProtocol})
		}
		out = append(out, sub)
	}
	return out
}

func (c *Controller) syncEndpoints(ctx context.Context, svc *corev1.Service, groups []*group) error {
	subsets := desiredSubsets(svc, groups)
	lbls := map[string]string{}
	for k, v := range svc.Labels {
		lbls[k] = v
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		lbls[corev1.IsHeadlessService] = ""
	}
	client := c.client.CoreV1().Endpoints(svc.Namespace)
	cur, err := c.epLister.Endpoints(svc.Namespace).Get(svc.Name)
	if apierrors.IsNotFound(err) {
		want := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: lbls}, Subsets: subsets}
		_, err := client.Create(ctx, want, metav1.CreateOptions{})
		if namespaceTerminating(err) {
			return nil
		}
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("endpoints %s/%s exist but are not in the cache yet", svc.Namespace, svc.Name)
		}
		return err
	}
	if err != nil {
		return err
	}
	if equality.Semantic.DeepEqual(cur.Subsets, subsets) && labelsEqual(cur.Labels, lbls) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets, upd.Labels = subsets, lbls
	_, err = client.Update(ctx, upd, metav1.UpdateOptions{})
	return err
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// deleteAll removes what this controller published for a Service that is
// gone (the garbage collector would too, through the ownerReference; the
// Endpoints have none).
func (c *Controller) deleteAll(ctx context.Context, ns, name string) error {
	var errs []error
	slices, err := c.ownSlices(ns, name)
	if err != nil {
		return err
	}
	for _, s := range slices {
		if err := c.client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if _, err := c.epLister.Endpoints(ns).Get(name); err == nil {
		if err := c.client.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// namespaceTerminating: nothing may be created there any more; the
// namespace controller is removing the Service too.
func namespaceTerminating(err error) bool {
	return err != nil && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause)
}
