package apiserver

import (
	"context"
	"fmt"
	"k8s.io/apiserver/pkg/endpoints/request"
	"net"
	"net/http"
	"strconv"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// internalCall is a call made by the server itself (no HTTP request).
func internalCall(ctx context.Context, group, version, plural, ns, name string) (*call, error) {
	r, ok := api.Lookup(group, version, plural)
	if !ok {
		return nil, fmt.Errorf("resource %s/%s %s is not in the table", group, version, plural)
	}
	info := &request.RequestInfo{IsResourceRequest: true, Verb: "create", APIGroup: group, APIVersion: version, Namespace: ns, Resource: plural, Name: name}
	req, err := http.NewRequestWithContext(request.WithRequestInfo(request.WithNamespace(ctx, ns), info), http.MethodPost, "/", nil)
	if err != nil {
		return nil, err
	}
	return &call{c: &gin.Context{Request: req}, r: r, info: info, ns: ns, name: name}, nil
}

// createIfMissing creates obj unless it exists.
func (s *Server) createIfMissing(ctx context.Context, group, version, plural, ns string, obj runtime.Object) error {
	k, err := internalCall(ctx, group, version, plural, ns, "")
	if err != nil {
		return err
	}
	obj.GetObjectKind().SetGroupVersionKind(k.r.GroupVersionKind())
	if _, err := s.createObject(k, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating %s %s/%s: %w", plural, ns, metaName(obj), err)
	}
	return nil
}

func metaName(obj runtime.Object) string {
	if o, ok := obj.(metav1.Object); ok {
		return o.GetName()
	}
	return ""
}

// bootstrap creates the system namespaces, the system PriorityClasses and the default/kubernetes
// Service with its Endpoints and EndpointSlice pointing at this server.
func (s *Server) bootstrap(ctx context.Context) error {
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if err := s.createIfMissing(ctx, "", "v1", "namespaces", "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	for _, pc := range systemPriorityClasses() {
		if err := s.createIfMissing(ctx, "scheduling.k8s.io", "v1", "priorityclasses", "", pc); err != nil {
			return err
		}
	}
	if err := s.defaultServiceCIDR(ctx); err != nil {
		return err
	}
	_, portStr, _ := net.SplitHostPort(s.listeners[0].Addr().String())
	port, _ := strconv.Atoi(portStr)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: s.alloc.firstIP().String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))}},
		},
	}
	// Looked up first, as upstream's kubernetesservice controller does: a
	// create of it again would fail on its allocated address before
	// finding the name taken. Another apiserver may create it in between.
	if s.storedService(ctx, "default", "kubernetes") == nil {
		if err := s.createIfMissing(ctx, "", "v1", "services", "default", svc); err != nil && s.storedService(ctx, "default", "kubernetes") == nil {
			return err
		}
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: s.cfg.AdvertiseAddress}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default", Labels: map[string]string{
			discoveryv1.LabelServiceName: "kubernetes",
			discoveryv1.LabelManagedBy:   "minik8s-apiserver",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{s.cfg.AdvertiseAddress}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if err := s.upsert(ctx, "", "v1", "endpoints", "default", ep, func(cur runtime.Object) runtime.Object {
		c := cur.(*corev1.Endpoints)
		c.Subsets = ep.Subsets
		return c
	}); err != nil {
		return err
	}
	return s.upsert(ctx, "discovery.k8s.io", "v1", "endpointslices", "default", slice, func(cur runtime.Object) runtime.Object {
		c := cur.(*discoveryv1.EndpointSlice)
		c.Endpoints, c.Ports = slice.Endpoints, slice.Ports
		return c
	})
}

// defaultServiceCIDR makes the ServiceCIDR "kubernetes" of the service
// range and marks it Ready, as kube-apiserver's default ServiceCIDR
// controller does (that controller writes the condition with a
// server-side apply of the status, which this server does not serve).
func (s *Server) defaultServiceCIDR(ctx context.Context) error {
	const name = "kubernetes"
	cidr := &networkingv1.ServiceCIDR{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       networkingv1.ServiceCIDRSpec{CIDRs: []string{s.cfg.serviceCIDR.String()}},
	}
	if err := s.createIfMissing(ctx, "networking.k8s.io", "v1", "servicecidrs", "", cidr); err != nil {
		return err
	}
	return s.store.GuaranteedUpdate(ctx, storage.Key("servicecidrs", "", name), &networkingv1.ServiceCIDR{}, func(cur runtime.Object) (runtime.Object, error) {
		c := cur.(*networkingv1.ServiceCIDR)
		if len(c.Spec.CIDRs) == 0 || c.Spec.CIDRs[0] != cidr.Spec.CIDRs[0] {
			s.logf("the default ServiceCIDR holds %v, not --service-cidr %s: left as it is", c.Spec.CIDRs, cidr.Spec.CIDRs[0])
			return c, nil
		}
		if cond := apimeta.FindStatusCondition(c.Status.Conditions, networkingv1.ServiceCIDRConditionReady); cond == nil || cond.Status == metav1.ConditionUnknown {
			apimeta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{
				Type: networkingv1.ServiceCIDRConditionReady, Status: metav1.ConditionTrue,
				Reason: "", Message: "Kubernetes default Service CIDR is ready",
			})
		}
		return c, nil
	})
}

// upsert creates obj or rewrites the stored one with set.
func (s *Server) upsert(ctx context.Context, group, version, plural, ns string, obj runtime.Object, set func(cur runtime.Object) runtime.Object) error {
	if err := s.createIfMissing(ctx, group, version, plural, ns, obj); err != nil {
		return err
	}
	k, err := internalCall(ctx, group, version, plural, ns, metaName(obj))
	if err != nil {
		return err
	}
	out := k.r.New()
	return s.store.GuaranteedUpdate(ctx, storage.Key(plural, ns, metaName(obj)), out, func(cur runtime.Object) (runtime.Object, error) {
		return set(cur), nil
	})
}
