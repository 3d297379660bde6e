package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/proxy"
	streamproxy "k8s.io/apiserver/pkg/util/proxy"
)

// proxySubresource serves pods/proxy, services/proxy and nodes/proxy as
// kube-apiserver's ProxyREST: the name may carry a port and a scheme
// ("name", "name:port", "https:name:port"), the rest of the path after
// "proxy" goes to the backend with the query, every method passes, and
// the backend's answer comes back as it is (upstream's UpgradeAwareHandler,
// with its redirect of an empty path to "/" and the rewriting of HTML
// links). Pods and endpoints are reached through the pod network
// (podNetwork), the node agents with the kubelet client credentials.
func (s *Server) proxySubresource(k *call) {
	var opts runtime.Object
	var loc *url.URL
	var rt http.RoundTripper
	var err error
	switch {
	case k.r.Group == "" && k.r.Plural == "pods":
		opts = &corev1.PodProxyOptions{}
		loc, err = s.podProxyLocation(k.ctx(), k.ns, k.name)
		rt = s.podTransport
	case k.r.Group == "" && k.r.Plural == "services":
		opts = &corev1.ServiceProxyOptions{}
		loc, err = s.serviceProxyLocation(k.ctx(), k.ns, k.name)
		rt = s.podTransport
	case k.r.Group == "" && k.r.Plural == "nodes":
		opts = &corev1.NodeProxyOptions{}
		loc, rt, err = s.nodeProxyLocation(k.ctx(), k.name)
	default:
		err = notFoundPath(k.c.Request.URL.Path)
	}
	if err != nil {
		writeError(k.c, err)
		return
	}
	// As the connect handler's getRequestOptions: the options' path is
	// the request's path after the subresource, with a leading slash and
	// the request's trailing one.
	query := k.c.Request.URL.Query()
	withPath := url.Values{}
	for key, v := range query {
		withPath[key] = v
	}
	withPath["path"] = []string{proxySubpath(k.info.Parts, k.info.Path)}
	if err := connectParameters.DecodeParameters(withPath, corev1.SchemeGroupVersion, opts); err != nil {
		writeError(k.c, apierrors.NewBadRequest(err.Error()))
		return
	}
	if err := s.admitConnect(k, opts); err != nil {
		writeError(k.c, err)
		return
	}
	var subpath string
	switch o := opts.(type) {
	case *corev1.PodProxyOptions:
		subpath = o.Path
	case *corev1.ServiceProxyOptions:
		subpath = o.Path
	case *corev1.NodeProxyOptions:
		subpath = o.Path
	}
	loc.Path = utilnet.JoinPreservingTrailingSlash(loc.Path, subpath)
	h := proxy.NewUpgradeAwareHandler(loc, rt, true, false, apiErrorResponder{})
	h.ServeHTTP(k.c.Writer, k.c.Request)
}

// proxySubpath is what follows "proxy" in a request's path parts
// (resource, name, "proxy", …), as upstream's connect handler makes it.
func proxySubpath(parts []string, path string) string {
	p := ""
	if len(parts) > 3 {
		p = strings.Join(parts[3:], "/")
	}
	if p != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	if strings.HasSuffix(path, "/") && !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}

// podProxyLocation is upstream's pod ResourceLocation: the pod's IP and
// the port asked for, else its first container's first port, else none.
func (s *Server) podProxyLocation(ctx context.Context, ns, id string) (*url.URL, error) {
	scheme, name, port, valid := utilnet.SplitSchemeNamePort(id)
	if !valid {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid pod request %q", id))
	}
	pods, _ := api.Lookup("", "v1", "pods")
	var pod corev1.Pod
	if err := s.store.Get(ctx, storage.Key(pods.StorageName(), ns, name), &pod); err != nil {
		return nil, storageError(pods, name, err)
	}
	if port == "" {
		for _, c := range pod.Spec.Containers {
			if len(c.Ports) > 0 {
				port = fmt.Sprint(c.Ports[0].ContainerPort)
				break
			}
		}
	}
	podIP := pod.Status.PodIP
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	if ip := net.ParseIP(podIP); ip == nil || !ip.IsGlobalUnicast() {
		return nil, apierrors.NewBadRequest("address not allowed")
	}
	loc := &url.URL{Scheme: scheme, Host: podIP}
	if strings.Contains(podIP, ":") {
		loc.Host = "[" + podIP + "]"
	}
	if port != "" {
		loc.Host = net.JoinHostPort(podIP, port)
	}
	return loc, nil
}

// serviceProxyLocation is upstream's service ResourceLocation: a random
// ready endpoint of the Service's EndpointSlices for the port asked for
// (by name, or by number through the Service's ports), among those whose
// pod still has the endpoint's address.
func (s *Server) serviceProxyLocation(ctx context.Context, ns, id string) (*url.URL, error) {
	scheme, name, port, valid := utilnet.SplitSchemeNamePort(id)
	if !valid {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid service request %q", id))
	}
	if num, err := strconv.ParseInt(port, 10, 64); err == nil {
		services, _ := api.Lookup("", "v1", "services")
		var svc corev1.Service
		if err := s.store.Get(ctx, storage.Key(services.StorageName(), ns, name), &svc); err != nil {
			return nil, storageError(services, name, err)
		}
		found := false
		for _, sp := range svc.Spec.Ports {
			if int64(sp.Port) == num {
				port, found = sp.Name, true
				break
			}
		}
		if !found {
			return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %s found for service %q", port, name))
		}
	}
	slicesRes, _ := api.Lookup("discovery.k8s.io", "v1", "endpointslices")
	selector := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name})
	res, err := s.store.List(ctx, storage.Prefix(slicesRes.StorageName(), ns), slicesRes.New, storage.ListOptions{Predicate: func(obj runtime.Object) bool {
		return selector.Matches(labels.Set(obj.(*discoveryv1.EndpointSlice).Labels))
	}})
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	var slices []*discoveryv1.EndpointSlice
	for _, obj := range res.Items {
		slices = append(slices, obj.(*discoveryv1.EndpointSlice))
	}
	if len(slices) == 0 {
		return nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	pods, _ := api.Lookup("", "v1", "pods")
	hostPort, err := streamproxy.RandomEndpoint(name, slices, port, corev1.IPv4Protocol, func(ep *discoveryv1.Endpoint) bool {
		if ep.TargetRef == nil || ep.TargetRef.Namespace != ns {
			return false
		}
		var pod corev1.Pod
		if s.store.Get(ctx, storage.Key(pods.StorageName(), ns, ep.TargetRef.Name), &pod) != nil {
			return false
		}
		for _, ip := range pod.Status.PodIPs {
			if ip.IP == ep.Addresses[0] {
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: scheme, Host: hostPort}, nil
}

// nodeProxyLocation is upstream's node ResourceLocation: the node's
// agent with the kubelet client credentials when no port or the agent's
// port is asked for, else the node's address at that port.
func (s *Server) nodeProxyLocation(ctx context.Context, id string) (*url.URL, http.RoundTripper, error) {
	scheme, name, port, valid := utilnet.SplitSchemeNamePort(id)
	if !valid {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid node request %q", id))
	}
	nodes, _ := api.Lookup("", "v1", "nodes")
	var node corev1.Node
	if err := s.store.Get(ctx, storage.Key(nodes.StorageName(), "", name), &node); err != nil {
		return nil, nil, storageError(nodes, name, err)
	}
	agent, err := s.kubeletURL(&node, "")
	if err != nil {
		return nil, nil, apierrors.NewBadRequest(err.Error())
	}
	if port == "" || port == agent.Port() {
		return agent, s.kubeletTransport, nil
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(agent.Hostname(), port)}, s.podTransport, nil
}

// apiErrorResponder writes a proxy's error as kube-apiserver's connect
// responder does: an API error as its Status, any other as an internal
// error (the proxy transport already makes an unreachable backend 503).
type apiErrorResponder struct{}

func (apiErrorResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	st := toStatus(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	data, _ := json.Marshal(st)
	_, _ = w.Write(data)
}
