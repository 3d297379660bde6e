package kubelet

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func service(ns, name, clusterIP string, ports ...v1.ServicePort) *v1.Service {
	return &v1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ServiceSpec{ClusterIP: clusterIP, Ports: ports}}
}

// kubernetesEnv are the variables of the default/kubernetes Service of
// the tests, in envvars.FromServices' order.
var kubernetesEnv = []envVar{
	{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
	{"KUBERNETES_SERVICE_PORT", "443"},
	{"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
	{"KUBERNETES_PORT", "tcp://10.96.0.1:443"},
	{"KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"},
	{"KUBERNETES_PORT_443_TCP_PROTO", "tcp"},
	{"KUBERNETES_PORT_443_TCP_PORT", "443"},
	{"KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"},
}

func TestServiceEnvVars(t *testing.T) {
	master := service("default", "kubernetes", "10.96.0.1", v1.ServicePort{Name: "https", Port: 443, Protocol: v1.ProtocolTCP})
	foo := service("ns", "foo-svc", "10.96.0.9", v1.ServicePort{Port: 8765, Protocol: v1.ProtocolUDP})
	fooEnv := []envVar{
		{"FOO_SVC_SERVICE_HOST", "10.96.0.9"},
		{"FOO_SVC_SERVICE_PORT", "8765"},
		{"FOO_SVC_PORT", "udp://10.96.0.9:8765"},
		{"FOO_SVC_PORT_8765_UDP", "udp://10.96.0.9:8765"},
		{"FOO_SVC_PORT_8765_UDP_PROTO", "udp"},
		{"FOO_SVC_PORT_8765_UDP_PORT", "8765"},
		{"FOO_SVC_PORT_8765_UDP_ADDR", "10.96.0.9"},
	}
	nsKubernetes := service("ns", "kubernetes", "10.96.0.2", v1.ServicePort{Port: 80})
	nsKubernetesEnv := []envVar{
		{"KUBERNETES_SERVICE_HOST", "10.96.0.2"},
		{"KUBERNETES_SERVICE_PORT", "80"},
		{"KUBERNETES_PORT", "tcp://10.96.0.2:80"},
		{"KUBERNETES_PORT_80_TCP", "tcp://10.96.0.2:80"},
		{"KUBERNETES_PORT_80_TCP_PROTO", "tcp"},
		{"KUBERNETES_PORT_80_TCP_PORT", "80"},
		{"KUBERNETES_PORT_80_TCP_ADDR", "10.96.0.2"},
	}
	concat := func(lists ...[]envVar) []envVar {
		var out []envVar
		for _, l := range lists {
			out = append(out, l...)
		}
		return out
	}
	tests := []struct {
		name     string
		ns       string
		links    bool
		services []*v1.Service
		want     []envVar
	}{
		{name: "no Services", ns: "ns", links: true},
		{
			name: "the namespace's Services and the master's, by Service name",
			ns:   "ns", links: true,
			services: []*v1.Service{master, foo},
			want:     concat(fooEnv, kubernetesEnv),
		},
		{
			name: "without service links only the master's",
			ns:   "ns", links: false,
			services: []*v1.Service{master, foo},
			want:     kubernetesEnv,
		},
		{
			name: "other namespaces' Services are left out, the default's too",
			ns:   "other", links: true,
			services: []*v1.Service{master, foo, service("default", "web", "10.96.0.7", v1.ServicePort{Port: 80})},
			want:     kubernetesEnv,
		},
		{
			name: "a pod of the default namespace gets its Services",
			ns:   "default", links: true,
			services: []*v1.Service{service("default", "web", "10.96.0.7", v1.ServicePort{Name: "http", Port: 80}), master},
			want: concat(kubernetesEnv, []envVar{
				{"WEB_SERVICE_HOST", "10.96.0.7"},
				{"WEB_SERVICE_PORT", "80"},
				{"WEB_SERVICE_PORT_HTTP", "80"},
				{"WEB_PORT", "tcp://10.96.0.7:80"},
				{"WEB_PORT_80_TCP", "tcp://10.96.0.7:80"},
				{"WEB_PORT_80_TCP_PROTO", "tcp"},
				{"WEB_PORT_80_TCP_PORT", "80"},
				{"WEB_PORT_80_TCP_ADDR", "10.96.0.7"},
			}),
		},
		{
			name: "headless and ExternalName Services have none",
			ns:   "ns", links: true,
			services: []*v1.Service{service("ns", "headless", v1.ClusterIPNone, v1.ServicePort{Port: 80}),
				{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "ext"}, Spec: v1.ServiceSpec{Type: v1.ServiceTypeExternalName, ExternalName: "example.com"}}},
		},
		{
			name: "the namespace's kubernetes Service hides the master's",
			ns:   "ns", links: true,
			services: []*v1.Service{master, nsKubernetes},
			want:     nsKubernetesEnv,
		},
		{
			name: "the namespace's kubernetes Service hides the master's listed after it",
			ns:   "ns", links: true,
			services: []*v1.Service{nsKubernetes, master},
			want:     nsKubernetesEnv,
		},
		{
			name: "without links the namespace's kubernetes Service hides nothing",
			ns:   "ns", links: false,
			services: []*v1.Service{nsKubernetes, master},
			want:     kubernetesEnv,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := serviceEnvVars(tt.ns, tt.links, tt.services)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(envVar{})); diff != "" {
				t.Errorf("got variables differing from want (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeServices is an informer's indexed store, synced or not.
type fakeServices struct {
	indexer cache.Indexer
	synced  bool
}

func (f *fakeServices) GetIndexer() cache.Indexer { return f.indexer }
func (f *fakeServices) HasSynced() bool           { return f.synced }

func newFakeServices(t *testing.T, synced bool, svcs ...*v1.Service) *fakeServices {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range svcs {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	return &fakeServices{indexer: idx, synced: synced}
}

// A container waits for the Services to be listed once; then it gets the
// variables of its namespace's Services and the master's (of the default
// namespace, not of others), which its env may use and override.
func TestServiceEnvOfPod(t *testing.T) {
	objs := fakeObjects(fake.NewSimpleClientset())
	objs.services = newFakeServices(t, false)
	pod := envPod([]v1.EnvVar{
		{Name: "API", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT) $(WEB_SERVICE_HOST)"},
		{Name: "KUBERNETES_PORT", Value: "mine"},
	}, nil, v1.ResourceRequirements{})
	pod.Namespace = "ns"
	if _, err := objs.serviceEnv(pod); !errors.Is(err, errServicesNotSynced) {
		t.Fatalf("before the Services are listed: got %v, want %v", err, errServicesNotSynced)
	}

	objs.services = newFakeServices(t, true,
		service("default", "kubernetes", "10.96.0.1", v1.ServicePort{Name: "https", Port: 443, Protocol: v1.ProtocolTCP}),
		service("default", "web", "10.96.0.7", v1.ServicePort{Port: 80}),
		service("other", "db", "10.96.0.8", v1.ServicePort{Port: 5432}),
		service("ns", "cache", "10.96.0.9", v1.ServicePort{Port: 6379}))
	svcEnv, err := objs.serviceEnv(pod)
	if err != nil {
		t.Fatal(err)
	}
	env, err := makeEnv(context.Background(), objs, pod, &pod.Spec.Containers[0], podFacts{serviceEnv: svcEnv})
	if err != nil {
		t.Fatal(err)
	}
	want := []envVar{
		{"API", "https://10.96.0.1:443 $(WEB_SERVICE_HOST)"},
		{"KUBERNETES_PORT", "mine"},
		{"CACHE_SERVICE_HOST", "10.96.0.9"},
		{"CACHE_SERVICE_PORT", "6379"},
		{"CACHE_PORT", "tcp://10.96.0.9:6379"},
		{"CACHE_PORT_6379_TCP", "tcp://10.96.0.9:6379"},
		{"CACHE_PORT_6379_TCP_PROTO", "tcp"},
		{"CACHE_PORT_6379_TCP_PORT", "6379"},
		{"CACHE_PORT_6379_TCP_ADDR", "10.96.0.9"},
	}
	for _, e := range kubernetesEnv {
		if e.Name != "KUBERNETES_PORT" {
			want = append(want, e)
		}
	}
	if diff := cmp.Diff(want, env, cmp.AllowUnexported(envVar{})); diff != "" {
		t.Errorf("got env differing from want (-want +got):\n%s", diff)
	}

	pod.Spec.EnableServiceLinks = ptrBool(false)
	svcEnv, err = objs.serviceEnv(pod)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kubernetesEnv, svcEnv, cmp.AllowUnexported(envVar{})); diff != "" {
		t.Errorf("enableServiceLinks false: got variables differing from the master's (-want +got):\n%s", diff)
	}

	// An agent without Services (a test's) gives none.
	objs.services = nil
	if svcEnv, err := objs.serviceEnv(pod); err != nil || len(svcEnv) != 0 {
		t.Errorf("without Services: got %v, %v; want none", svcEnv, err)
	}
}
