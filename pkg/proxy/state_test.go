package proxy

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

type svcOpt func(*v1.Service)

func service(name, ip string, opts ...svcOpt) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1.ServiceSpec{
			Type:      v1.ServiceTypeClusterIP,
			ClusterIP: ip,
			Ports:     []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("web")}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

type epSpec struct {
	ip, node           string
	ready, terminating bool
	serving            *bool
}

func slice(svc string, port int32, proto v1.Protocol, eps ...epSpec) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-abc", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(proto), Port: ptr.To(port)}},
	}
	for _, e := range eps {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{e.ip},
			NodeName:  ptr.To(e.node),
			Conditions: discoveryv1.EndpointConditions{
				Ready: ptr.To(e.ready), Terminating: ptr.To(e.terminating), Serving: e.serving,
			},
		})
	}
	return sl
}

func TestCompute(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.244.0.0/16")
	const chain = "svc_default_web_http_tcp"
	tests := []struct {
		name   string
		svcs   []*v1.Service
		slices []*discoveryv1.EndpointSlice
		want   []string // lines that must be present
		absent []string // substrings that must not appear
	}{
		{
			name:   "clusterip two ready endpoints, named target port resolved from slice",
			svcs:   []*v1.Service{service("web", "10.96.0.10")},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.2.5", node: "node2", ready: true}, epSpec{ip: "10.244.1.5", node: "node1", ready: true})},
			want: []string{
				"ip 10.96.0.10 . tcp . 80 : goto pick_2",
				"endpoint 10.96.0.10 . tcp . 80 . 0 : 10.244.1.5:8080",
				"endpoint 10.96.0.10 . tcp . 80 . 1 : 10.244.2.5:8080",
				"local 10.244.1.5",
			},
			absent: []string{"reject", "local 10.244.2.5", "chain"},
		},
		{
			name:   "no endpoints rejects",
			svcs:   []*v1.Service{service("web", "10.96.0.10")},
			want:   []string{"reject ip 10.96.0.10 . tcp . 80"},
			absent: []string{"goto", "chain"},
		},
		{
			name:   "terminating endpoints dropped while a ready one exists",
			svcs:   []*v1.Service{service("web", "10.96.0.10")},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", ready: true}, epSpec{ip: "10.244.1.6", terminating: true, serving: ptr.To(true)})},
			want:   []string{"endpoint 10.96.0.10 . tcp . 80 . 0 : 10.244.1.5:8080", "ip 10.96.0.10 . tcp . 80 : goto pick_1"},
			absent: []string{"10.244.1.6"},
		},
		{
			name:   "serving terminating endpoints used when nothing is ready",
			svcs:   []*v1.Service{service("web", "10.96.0.10")},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", terminating: true, serving: ptr.To(false)}, epSpec{ip: "10.244.1.6", terminating: true, serving: ptr.To(true)})},
			want:   []string{"endpoint 10.96.0.10 . tcp . 80 . 0 : 10.244.1.6:8080"},
			absent: []string{"10.244.1.5"},
		},
		{
			name:   "not ready, not terminating endpoint is ignored",
			svcs:   []*v1.Service{service("web", "10.96.0.10")},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5"})},
			want:   []string{"reject ip 10.96.0.10 . tcp . 80"},
		},
		{
			name:   "slice port name must match service port name",
			svcs:   []*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) { s.Spec.Ports[0].Name = "other" })},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", ready: true})},
			want:   []string{"reject ip 10.96.0.10 . tcp . 80"},
		},
		{
			name: "udp",
			svcs: []*v1.Service{service("dns", "10.96.0.53", func(s *v1.Service) {
				s.Spec.Ports[0].Protocol = v1.ProtocolUDP
				s.Spec.Ports[0].Port = 53
			})},
			slices: []*discoveryv1.EndpointSlice{slice("dns", 5353, v1.ProtocolUDP, epSpec{ip: "10.244.1.5", ready: true})},
			want: []string{
				"ip 10.96.0.53 . udp . 53 : goto pick_1",
				"endpoint 10.96.0.53 . udp . 53 . 0 : 10.244.1.5:5353",
			},
		},
		{
			name: "nodeport and loadbalancer, cluster policy",
			svcs: []*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) {
				s.Spec.Type = v1.ServiceTypeLoadBalancer
				s.Spec.Ports[0].NodePort = 30080
				s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "10.200.0.200"}}
			})},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.2.5", node: "node2", ready: true})},
			want: []string{
				"ip 10.96.0.10 . tcp . 80 : goto pick_1",
				"ip 10.200.0.200 . tcp . 80 : goto pick_1",
				"endpoint 10.200.0.200 . tcp . 80 . 0 : 10.244.2.5:8080",
				"nodeport tcp . 30080 : goto pick_nodeport_1",
				"endpoint nodeport tcp . 30080 . 0 : 10.244.2.5:8080",
			},
			absent: []string{"ext_", "chain"},
		},
		{
			name: "externalTrafficPolicy Local without local endpoints drops external traffic",
			svcs: []*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) {
				s.Spec.Type = v1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			})},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.2.5", node: "node2", ready: true})},
			want: []string{
				"nodeport tcp . 30080 : goto ext_default_web_http_tcp",
				"chain ext_default_web_http_tcp 0: ip saddr 10.244.0.0/16 goto " + chain,
				"chain ext_default_web_http_tcp 1: drop",
			},
		},
		{
			name: "externalTrafficPolicy Local uses only local endpoints, no masquerade",
			svcs: []*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) {
				s.Spec.Type = v1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			})},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.2.5", node: "node2", ready: true}, epSpec{ip: "10.244.1.7", node: "node1", ready: true})},
			want: []string{
				"chain ext_default_web_http_tcp 1: meta l4proto tcp dnat to 10.244.1.7:8080",
			},
			absent: []string{"chain ext_default_web_http_tcp 2", "ext_default_web_http_tcp 1: ip saddr"},
		},
		{
			name: "session affinity",
			svcs: []*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) {
				s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
			})},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", ready: true}, epSpec{ip: "10.244.1.6", ready: true})},
			want: []string{
				"set aff_default_web_http_tcp_10.244.1.5_8080 timeout 1m0s",
				"chain " + chain + " 1: ip saddr @aff_default_web_http_tcp_10.244.1.5_8080 meta l4proto tcp dnat to 10.244.1.5:8080",
				"chain " + chain + " 3: meta l4proto tcp numgen random mod 2 0 update @aff_default_web_http_tcp_10.244.1.5_8080 { ip saddr } dnat to 10.244.1.5:8080",
			},
		},
		{
			name: "session affinity with externalTrafficPolicy Local applies to the local endpoints",
			svcs: []*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) {
				s.Spec.Type = v1.ServiceTypeLoadBalancer
				s.Spec.Ports[0].NodePort = 30080
				s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "10.200.0.200"}}
				s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
				s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			})},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP,
				epSpec{ip: "10.244.2.5", node: "node2", ready: true}, epSpec{ip: "10.244.1.6", node: "node1", ready: true}, epSpec{ip: "10.244.1.7", node: "node1", ready: true})},
			want: []string{
				"nodeport tcp . 30080 : goto ext_default_web_http_tcp",
				"ip 10.200.0.200 . tcp . 80 : goto ext_default_web_http_tcp",
				"set aff_default_web_http_tcp_10.244.1.6_8080 timeout 3h0m0s",
				"chain ext_default_web_http_tcp 0: ip saddr 10.244.0.0/16 goto " + chain,
				"chain ext_default_web_http_tcp 1: ip saddr @aff_default_web_http_tcp_10.244.1.6_8080 meta l4proto tcp dnat to 10.244.1.6:8080",
				"chain ext_default_web_http_tcp 2: ip saddr @aff_default_web_http_tcp_10.244.1.7_8080 meta l4proto tcp dnat to 10.244.1.7:8080",
				"chain ext_default_web_http_tcp 3: meta l4proto tcp numgen random mod 2 0 update @aff_default_web_http_tcp_10.244.1.6_8080 { ip saddr } dnat to 10.244.1.6:8080",
				"chain ext_default_web_http_tcp 4: meta l4proto tcp update @aff_default_web_http_tcp_10.244.1.7_8080 { ip saddr } dnat to 10.244.1.7:8080",
				// Pods still get every endpoint, with affinity.
				"chain " + chain + " 1: ip saddr @aff_default_web_http_tcp_10.244.1.6_8080 meta l4proto tcp dnat to 10.244.1.6:8080",
				"chain " + chain + " 3: ip saddr @aff_default_web_http_tcp_10.244.2.5_8080 meta l4proto tcp dnat to 10.244.2.5:8080",
			},
			absent: []string{"chain ext_default_web_http_tcp 5", "ext_default_web_http_tcp 1: ip saddr @aff_default_web_http_tcp_10.244.2.5", "ext_default_web_http_tcp 0: ip saddr != "},
		},
		{
			// As kube-proxy's external traffic of policy Cluster: a
			// NodePort is masqueraded whatever its source (a pod reaching
			// another node's NodePort gets its reply back through it),
			// the ClusterIP only from outside the cluster.
			name: "nodeport with session affinity, cluster policy: masqueraded from pods too",
			svcs: []*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) {
				s.Spec.Type = v1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = 30080
				s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			})},
			slices: []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.2.5", node: "node2", ready: true})},
			want: []string{
				"nodeport tcp . 30080 : goto np_default_web_http_tcp",
				"chain np_default_web_http_tcp 0: meta mark set meta mark | 0x4000",
				"chain np_default_web_http_tcp 1: ip saddr @aff_default_web_http_tcp_10.244.2.5_8080 meta l4proto tcp dnat to 10.244.2.5:8080",
				"ip 10.96.0.10 . tcp . 80 : goto " + chain,
				"chain " + chain + " 0: ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000",
			},
		},
		{
			name:   "headless and external name ignored",
			svcs:   []*v1.Service{service("h", "None"), service("x", "", func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeExternalName })},
			absent: []string{"goto", "reject"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.svcs, tt.slices, "node1", cidr).String()
			for _, w := range tt.want {
				if !strings.Contains(got+"\n", w+"\n") {
					t.Errorf("missing line %q in\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("unexpected %q in\n%s", a, got)
				}
			}
		})
	}
}

func TestComputeNoClusterCIDRMasqueradesAll(t *testing.T) {
	st := Compute([]*v1.Service{service("web", "10.96.0.10", func(s *v1.Service) { s.Spec.SessionAffinity = v1.ServiceAffinityClientIP })},
		[]*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", ready: true})}, "node1", nil)
	if got, want := st.Chains["svc_default_web_http_tcp"][0].String(), "meta mark set meta mark | 0x4000"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestComputeManyEndpointsGetOwnChain(t *testing.T) {
	var eps []epSpec
	for i := 0; i <= maxPick; i++ {
		eps = append(eps, epSpec{ip: fmt.Sprintf("10.244.%d.%d", 1+i/200, 1+i%200), ready: true})
	}
	st := Compute([]*v1.Service{service("web", "10.96.0.10")}, []*discoveryv1.EndpointSlice{slice("web", 8080, v1.ProtocolTCP, eps...)}, "node1", nil)
	if got, want := st.ServiceIPs[ipKey{[4]byte{10, 96, 0, 10}, protoTCP, 80}], "svc_default_web_http_tcp"; got != want {
		t.Errorf("dispatch to %q, want %q", got, want)
	}
	if got, want := len(st.Chains["svc_default_web_http_tcp"]), maxPick+2; got != want {
		t.Errorf("%d rules, want %d", got, want)
	}
	if len(st.Endpoints) != 0 {
		t.Errorf("endpoint map used for a Service with its own chain")
	}
}

func TestEndpointRulesUniform(t *testing.T) {
	// P(i) = prod_{j<i}(1-1/(n-j)) * 1/(n-i) must be 1/n for every i.
	for n := 1; n <= 9; n++ {
		eps := make([]endpoint, n)
		rs := endpointRules(protoTCP, eps, "", 0, nil)
		left := 1.0
		for i, r := range rs {
			p := 1.0
			if r.Mod > 0 {
				p = 1 / float64(r.Mod)
			}
			if got := left * p; got < 1/float64(n)-1e-9 || got > 1/float64(n)+1e-9 {
				t.Errorf("n=%d endpoint %d: probability %v, want %v", n, i, got, 1/float64(n))
			}
			left *= 1 - p
		}
	}
}

func TestAnnouncer(t *testing.T) {
	now := time.Now()
	lease := func(name string, renewAgo time.Duration, dur int32) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: NodeLeaseNamespace},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), RenewTime: &metav1.MicroTime{Time: now.Add(-renewAgo)}, LeaseDurationSeconds: ptr.To(dur)}}
	}
	fresh := FreshNodes([]*coordinationv1.Lease{lease("node1", time.Second, 40), lease("node2", time.Minute, 40), lease("node3", 0, 40)}, now)
	if got, want := strings.Join(fresh, ","), "node1,node3"; got != want {
		t.Fatalf("fresh nodes: got %s, want %s", got, want)
	}
	all := []string{"node1", "node2", "node3"}
	moved, counts := 0, map[string]int{}
	for i := 0; i < 300; i++ {
		key := "default/svc" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		owner := Announcer(key, all)
		counts[owner]++
		if Announcer(key, []string{"node3", "node2", "node1"}) != owner {
			t.Fatalf("announcer depends on node order")
		}
		var without []string
		for _, n := range all {
			if n != "node2" {
				without = append(without, n)
			}
		}
		if got := Announcer(key, without); owner != "node2" && got != owner {
			moved++
		} else if got == "node2" {
			t.Fatalf("expired node chosen")
		}
	}
	if moved != 0 {
		t.Errorf("%d services moved between surviving nodes, want 0", moved)
	}
	for _, n := range all {
		if counts[n] == 0 {
			t.Errorf("node %s never chosen: %v", n, counts)
		}
	}
	if Announcer("x", nil) != "" {
		t.Errorf("no nodes must give no announcer")
	}
}

func TestGARPFrame(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	f := garpFrame(mac, net.ParseIP("10.200.0.200"))
	if len(f) != 42 {
		t.Fatalf("frame length %d, want 42", len(f))
	}
	if f[12] != 0x08 || f[13] != 0x06 || f[21] != 1 {
		t.Errorf("not an ARP request: % x", f[:22])
	}
	if !net.IP(f[28:32]).Equal(net.ParseIP("10.200.0.200")) || !net.IP(f[38:42]).Equal(net.ParseIP("10.200.0.200")) {
		t.Errorf("sender/target ip wrong: % x", f)
	}
}

func TestFragmentCacheMatchesCompute(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.244.0.0/16")
	p, err := New(Config{NodeName: "node1", ClusterCIDR: "10.244.0.0/16"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	svcs := []*v1.Service{service("a", "10.96.0.1"), service("b", "10.96.0.2"), service("c", "10.96.0.3")}
	sls := []*discoveryv1.EndpointSlice{
		slice("a", 80, v1.ProtocolTCP, epSpec{ip: "10.244.1.1", ready: true}),
		slice("b", 80, v1.ProtocolTCP, epSpec{ip: "10.244.1.2", ready: true}),
	}
	steps := []func(){
		func() {},
		func() { sls[1] = slice("b", 80, v1.ProtocolTCP, epSpec{ip: "10.244.1.9", ready: true}) },
		func() { svcs = svcs[:2] },
		func() { sls = append(sls, slice("c", 81, v1.ProtocolTCP, epSpec{ip: "10.244.1.3", ready: true})) },
		func() { svcs = append(svcs, service("c", "10.96.0.3")) },
		func() { sls = sls[1:] },
		func() {
			shared := epSpec{ip: "10.244.1.50", node: "node1", ready: true}
			sls = append(sls, slice("a", 80, v1.ProtocolUDP, shared))
			sls[0] = slice("b", 80, v1.ProtocolTCP, shared)
			svcs[0] = service("a", "10.96.0.1", func(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolUDP })
		},
		func() { svcs = svcs[1:] },
	}
	for i, step := range steps {
		step()
		st, _ := p.compute(svcs, sls)
		got, want := st.String(), Compute(svcs, sls, "node1", cidr).String()
		if !strings.Contains(want, "local 10.244.1.50") && i >= len(steps)-2 {
			t.Errorf("step %d: shared local endpoint missing from the expected state:\n%s", i, want)
		}
		if got != want {
			t.Errorf("step %d: cached compute\n%s\nwant\n%s", i, got, want)
		}
	}
}
