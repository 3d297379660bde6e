package apiserver

import (
	"context"
	"fmt"
	"net/url"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/apiserver/pkg/util/webhook"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"
)

// serviceResolver turns a webhook's service reference (a conversion
// webhook's, an admission webhook's) into the address of one ready
// endpoint of the Service, as kube-apiserver does with
// --enable-aggregator-routing: the apiserver runs in the lab's root
// namespace, which routes to every node's pod range but not to the
// Service range (DESIGN.md's address plan), so ClusterIPs are not
// reachable from it and pod addresses are. TLS still names the Service
// (name.namespace.svc), which upstream's webhook client sets.
type serviceResolver struct{ s *Server }

var _ webhook.ServiceResolver = serviceResolver{}

// resolveTimeout bounds the two reads a resolution makes.
const resolveTimeout = 10 * time.Second

func (r serviceResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	return r.s.resolveService(ctx, namespace, name, port)
}

// resolveService gives https://IP:port of a ready endpoint of the
// Service namespace/name behind its port port: upstream's
// proxy.ResolveEndpoint over the Service and EndpointSlices in etcd.
func (s *Server) resolveService(ctx context.Context, namespace, name string, port int32) (*url.URL, error) {
	svc := &corev1.Service{}
	if err := s.store.Get(ctx, storage.Key("services", namespace, name), svc); err != nil {
		return nil, storageError(servicesResource(), name, err)
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
	default:
		return nil, fmt.Errorf("unsupported service type %q", svc.Spec.Type)
	}
	var svcPort *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == port {
			svcPort = &svc.Spec.Ports[i]
			break
		}
	}
	if svcPort == nil {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %d found for service %q", port, svc.Name))
	}
	res, err := s.store.List(ctx, storage.Prefix("endpointslices", namespace), func() runtime.Object { return &discoveryv1.EndpointSlice{} }, storage.ListOptions{
		Predicate: func(o runtime.Object) bool {
			return o.(*discoveryv1.EndpointSlice).Labels[discoveryv1.LabelServiceName] == name
		},
	})
	if err != nil {
		return nil, storageError(servicesResource(), name, err)
	}
	var slices []*discoveryv1.EndpointSlice
	for _, o := range res.Items {
		slices = append(slices, o.(*discoveryv1.EndpointSlice))
	}
	family := corev1.IPFamilyUnknown
	if len(svc.Spec.IPFamilies) > 0 {
		family = svc.Spec.IPFamilies[0]
	}
	hostPort, err := proxy.RandomEndpoint(svc.Name, slices, svcPort.Name, family, nil)
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "https", Host: hostPort}, nil
}

func servicesResource() *api.Resource {
	r, _ := api.Lookup("", "v1", "services")
	return r
}
