package apiserver_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// podNetAgent stands in for node agents: it serves /healthz, and
// answers HTTP CONNECT to a pod address by tunnelling to the local
// backend of that port, as kubelet-lite tunnels to pods.
type podNetAgent struct {
	srv      *httptest.Server
	mu       sync.Mutex
	targets  []string
	backends map[string]string // pod port → local address
}

func newPodNetAgent(t *testing.T, backends map[string]string) *podNetAgent {
	a := &podNetAgent{backends: backends}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			fmt.Fprintf(w, "agent %s", r.URL.Path)
			return
		}
		a.mu.Lock()
		a.targets = append(a.targets, r.Host)
		a.mu.Unlock()
		_, port, _ := net.SplitHostPort(r.Host)
		addr, ok := a.backends[port]
		if !ok {
			http.Error(w, "nothing listens there", http.StatusServiceUnavailable)
			return
		}
		backend, err := net.Dial("tcp", addr)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		client, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			backend.Close()
			return
		}
		_, _ = io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n")
		go func() { _, _ = io.Copy(backend, client); backend.Close() }()
		go func() { _, _ = io.Copy(client, backend); client.Close() }()
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *podNetAgent) lastTarget() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.targets) == 0 {
		return ""
	}
	return a.targets[len(a.targets)-1]
}

// echoBackend answers with what it was asked: method, path and query.
func echoBackend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		if r.URL.Path == "/created" {
			w.WriteHeader(http.StatusCreated)
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s ?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, body)
	})
}

// startPodNetwork starts an apiserver with node1 (pod range
// 10.244.1.0/24, its agent the returned podNetAgent), pod web on it at
// 10.244.1.5 with container port 8080, and pod pending without an IP.
// The pod's port 8080 is an HTTP echo backend, 8443 an HTTPS one.
func startPodNetwork(t *testing.T) (*apiservertest.Server, kubernetes.Interface, *podNetAgent) {
	t.Helper()
	plain := httptest.NewServer(echoBackend())
	t.Cleanup(plain.Close)
	secure := httptest.NewTLSServer(echoBackend())
	t.Cleanup(secure.Close)
	agent := newPodNetAgent(t, map[string]string{
		"8080": plain.Listener.Addr().String(),
		"8443": secure.Listener.Addr().String(),
	})
	_, portStr, _ := net.SplitHostPort(agent.srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		},
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := newPod("web")
	web.Spec.NodeName = "node1"
	web.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}}
	created, err := cs.CoreV1().Pods("default").Create(ctx, web, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.PodIP = "10.244.1.5"
	created.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	pending := newPod("pending")
	pending.Spec.NodeName = "node1"
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pending, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return s, cs, agent
}

type proxyCall struct {
	name       string
	method     string
	path       string // after /api/v1/
	body       string
	wantCode   int
	wantBody   string // prefix
	wantTarget string // the CONNECT the agent saw; "" when none is checked
}

func runProxyCalls(t *testing.T, s *apiservertest.Server, agent *podNetAgent, calls []proxyCall) {
	t.Helper()
	client := &http.Client{
		Transport:     s.Client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, tt := range calls {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.URL+"/api/v1/"+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			data, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode || !strings.HasPrefix(string(data), tt.wantBody) {
				t.Fatalf("got %d %q, want %d %q…", resp.StatusCode, data, tt.wantCode, tt.wantBody)
			}
			if tt.wantTarget != "" && agent.lastTarget() != tt.wantTarget {
				t.Fatalf("the agent tunnelled to %q, want %q", agent.lastTarget(), tt.wantTarget)
			}
		})
	}
}

// Kubernetes' pods/proxy: "name", "name:port", "scheme:name:port", the
// path after proxy and the query to the pod, any method, the pod's
// answer as it is; here through the agent's tunnel to the pod network.
func TestPodsProxy(t *testing.T) {
	s, _, agent := startPodNetwork(t)
	const pods = "namespaces/default/pods/"
	runProxyCalls(t, s, agent, []proxyCall{
		{"first container port, trailing slash", "GET", pods + "web/proxy/", "", 200, "GET / ? ", "10.244.1.5:8080"},
		{"path and query", "GET", pods + "web/proxy/some/path?x=1&y=2", "", 200, "GET /some/path ?x=1&y=2 ", "10.244.1.5:8080"},
		{"trailing slash kept", "GET", pods + "web/proxy/dir/", "", 200, "GET /dir/ ? ", ""},
		{"named port number", "GET", pods + "web:8080/proxy/data.json", "", 200, "GET /data.json ? ", "10.244.1.5:8080"},
		{"https scheme", "GET", pods + "https:web:8443/proxy/tls", "", 200, "GET /tls ? ", "10.244.1.5:8443"},
		{"POST with a body", "POST", pods + "web/proxy?method=POST", "hello", 200, "POST / ?method=POST hello", ""},
		{"PUT", "PUT", pods + "web/proxy/x", "", 200, "PUT /x ? ", ""},
		{"PATCH", "PATCH", pods + "web/proxy/x", "", 200, "PATCH /x ? ", ""},
		{"DELETE", "DELETE", pods + "web/proxy/x", "", 200, "DELETE /x ? ", ""},
		{"OPTIONS", "OPTIONS", pods + "web/proxy/x", "", 200, "OPTIONS /x ? ", ""},
		{"backend status passes", "GET", pods + "web/proxy/created", "", 201, "GET /created", ""},
		// Upstream's redirect of an empty path, for GET and HEAD only.
		{"GET without a path redirects", "GET", pods + "web/proxy?method=GET", "", 301, "", ""},
		{"HEAD without a path redirects", "HEAD", pods + "web/proxy?method=HEAD", "", 301, "", ""},
		{"nothing listens", "GET", pods + "web:9999/proxy/", "", 503, "{", "10.244.1.5:9999"},
		{"no such pod", "GET", pods + "nope/proxy/", "", 404, "{", ""},
		{"pod without an IP", "GET", pods + "pending/proxy/", "", 400, "{", ""},
		{"bad scheme", "GET", pods + "ftp:web:21/proxy/", "", 400, "{", ""},
	})
}

// Kubernetes' services/proxy: a ready endpoint of the Service's
// EndpointSlices for the port named, or numbered through the Service.
func TestServicesProxy(t *testing.T) {
	s, cs, agent := startPodNetwork(t)
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "websvc"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
				{Name: "other", Port: 81, TargetPort: intstr.FromInt32(8081)},
			},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "websvc-1", Labels: map[string]string{discoveryv1.LabelServiceName: "websvc"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.244.1.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const services = "namespaces/default/services/"
	runProxyCalls(t, s, agent, []proxyCall{
		{"port by number", "GET", services + "websvc:80/proxy/a?b=c", "", 200, "GET /a ?b=c ", "10.244.1.5:8080"},
		{"port by name", "POST", services + "websvc:http/proxy/a", "x", 200, "POST /a ? x", "10.244.1.5:8080"},
		{"port without endpoints", "GET", services + "websvc:81/proxy/", "", 503, "{", ""},
		{"port the Service lacks", "GET", services + "websvc:82/proxy/", "", 503, "{", ""},
		{"no such service", "GET", services + "nope:80/proxy/", "", 404, "{", ""},
	})
}

// nodes/proxy reaches the node's agent with the kubelet credentials.
func TestNodesProxy(t *testing.T) {
	s, _, agent := startPodNetwork(t)
	runProxyCalls(t, s, agent, []proxyCall{
		{"agent path", "GET", "nodes/node1/proxy/healthz", "", 200, "agent /healthz", ""},
		{"no such node", "GET", "nodes/nope/proxy/healthz", "", 404, "{", ""},
	})
}
