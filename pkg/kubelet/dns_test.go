package kubelet

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const nodeResolv = `# written by the node
nameserver 192.0.2.53
nameserver 192.0.2.54
search corp.example. lab.example
options timeout:2 attempts:3
`

func dnsPod(mutate func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}, Spec: v1.PodSpec{DNSPolicy: v1.DNSClusterFirst}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestPodDNS(t *testing.T) {
	tests := []struct {
		name       string
		pod        *v1.Pod
		clusterDNS string
		want       string
		warnings   int
	}{
		{
			name:       "ClusterFirst: cluster DNS only, cluster search path before the node's, ndots 5",
			pod:        dnsPod(nil),
			clusterDNS: "10.96.0.10",
			want:       "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n",
		},
		{
			name:       "empty policy is ClusterFirst",
			pod:        dnsPod(func(p *v1.Pod) { p.Spec.DNSPolicy = "" }),
			clusterDNS: "10.96.0.10",
			want:       "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n",
		},
		{
			name:       "ClusterFirst without --cluster-dns falls back to Default with a warning",
			pod:        dnsPod(nil),
			clusterDNS: "",
			want:       "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:2 attempts:3\n",
			warnings:   1,
		},
		{
			name:       "Default: the node's resolv.conf",
			pod:        dnsPod(func(p *v1.Pod) { p.Spec.DNSPolicy = v1.DNSDefault }),
			clusterDNS: "10.96.0.10",
			want:       "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:2 attempts:3\n",
		},
		{
			name:       "ClusterFirst on the host network is Default",
			pod:        dnsPod(func(p *v1.Pod) { p.Spec.HostNetwork = true }),
			clusterDNS: "10.96.0.10",
			want:       "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:2 attempts:3\n",
		},
		{
			name: "ClusterFirstWithHostNet on the host network uses the cluster DNS",
			pod: dnsPod(func(p *v1.Pod) {
				p.Spec.HostNetwork = true
				p.Spec.DNSPolicy = v1.DNSClusterFirstWithHostNet
			}),
			clusterDNS: "10.96.0.10",
			want:       "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n",
		},
		{
			name: "None: only dnsConfig",
			pod: dnsPod(func(p *v1.Pod) {
				p.Spec.DNSPolicy = v1.DNSNone
				p.Spec.DNSConfig = &v1.PodDNSConfig{
					Nameservers: []string{"203.0.113.1"},
					Searches:    []string{"a.example"},
					Options:     []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}},
				}
			}),
			clusterDNS: "10.96.0.10",
			want:       "search a.example\nnameserver 203.0.113.1\noptions ndots:2 edns0\n",
		},
		{
			name: "ClusterFirst with dnsConfig: appended, duplicates dropped, an option of the same name replaced",
			pod: dnsPod(func(p *v1.Pod) {
				p.Spec.DNSConfig = &v1.PodDNSConfig{
					Nameservers: []string{"10.96.0.10", "203.0.113.1"},
					Searches:    []string{"svc.cluster.local", "ns1.example"},
					Options:     []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}, {Name: "single-request-reopen"}},
				}
			}),
			clusterDNS: "10.96.0.10",
			want:       "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example ns1.example\nnameserver 10.96.0.10\nnameserver 203.0.113.1\noptions ndots:1 single-request-reopen\n",
		},
		{
			name: "more than 3 nameservers are cut with a warning",
			pod: dnsPod(func(p *v1.Pod) {
				p.Spec.DNSPolicy = v1.DNSDefault
				p.Spec.DNSConfig = &v1.PodDNSConfig{Nameservers: []string{"203.0.113.1", "203.0.113.2"}}
			}),
			want:     "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\nnameserver 203.0.113.1\noptions timeout:2 attempts:3\n",
			warnings: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, warnings := podDNS(tt.pod, tt.clusterDNS, "cluster.local", []byte(nodeResolv))
			if got := conf.resolvConf(); got != tt.want {
				t.Errorf("resolv.conf:\ngot  %q\nwant %q", got, tt.want)
			}
			if len(warnings) != tt.warnings {
				t.Errorf("got warnings %q, want %d", warnings, tt.warnings)
			}
		})
	}
}

func TestSearchFitsLimits(t *testing.T) {
	long := strings.Repeat("a", 254)
	var many []string
	for i := 0; i < 40; i++ {
		many = append(many, "d"+strings.Repeat("x", 60))
	}
	tests := []struct {
		name    string
		in      []string
		wantLen int
		wantCut bool
	}{
		{"within limits", []string{"a", "b"}, 2, false},
		{"a domain over 253 characters is dropped", []string{"a", long, "b"}, 2, true},
		{"over 32 domains and 2048 characters are cut from the end", many, 32, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cut := searchFitsLimits(tt.in)
			if len(got) != tt.wantLen || cut != tt.wantCut {
				t.Errorf("got %d domains (cut %v), want %d (cut %v)", len(got), cut, tt.wantLen, tt.wantCut)
			}
			if n := len(strings.Join(got, " ")); n > maxDNSSearchListChars {
				t.Errorf("got a search line of %d characters, want at most %d", n, maxDNSSearchListChars)
			}
		})
	}
}

func TestPodHostnameAndHosts(t *testing.T) {
	tests := []struct {
		name     string
		pod      *v1.Pod
		wantHost string
		wantErr  bool
		wantLine string
	}{
		{
			name:     "pod name",
			pod:      dnsPod(nil),
			wantHost: "web-0",
			wantLine: "10.244.1.5\tweb-0\n",
		},
		{
			name:     "hostname and subdomain give the FQDN in /etc/hosts",
			pod:      dnsPod(func(p *v1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web" }),
			wantHost: "web-0",
			wantLine: "10.244.1.5\tweb-0.web.shop.svc.cluster.local\tweb-0\n",
		},
		{
			name: "setHostnameAsFQDN makes the FQDN the hostname",
			pod: dnsPod(func(p *v1.Pod) {
				p.Spec.Subdomain = "web"
				p.Spec.SetHostnameAsFQDN = ptr.To(true)
			}),
			wantHost: "web-0.web.shop.svc.cluster.local",
			wantLine: "10.244.1.5\tweb-0.web.shop.svc.cluster.local\tweb-0\n",
		},
		{
			name: "setHostnameAsFQDN without subdomain keeps the short name",
			pod: dnsPod(func(p *v1.Pod) {
				p.Spec.SetHostnameAsFQDN = ptr.To(true)
			}),
			wantHost: "web-0",
			wantLine: "10.244.1.5\tweb-0\n",
		},
		{
			name: "an FQDN over 64 characters is an error",
			pod: dnsPod(func(p *v1.Pod) {
				p.Spec.Subdomain = strings.Repeat("s", 40)
				p.Spec.SetHostnameAsFQDN = ptr.To(true)
			}),
			wantErr:  true,
			wantLine: "\tweb-0." + strings.Repeat("s", 40) + ".shop.svc.cluster.local\tweb-0\n",
		},
		{
			name:     "a name over 63 characters is cut without a trailing dash",
			pod:      dnsPod(func(p *v1.Pod) { p.Name = strings.Repeat("a", 62) + "-bcd" }),
			wantHost: strings.Repeat("a", 62),
			wantLine: "10.244.1.5\t" + strings.Repeat("a", 62) + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := containerHostname(tt.pod, "cluster.local")
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if got != tt.wantHost {
				t.Errorf("got hostname %q, want %q", got, tt.wantHost)
			}
			if hosts := hostsFile(tt.pod, "10.244.1.5", "cluster.local"); !strings.Contains(hosts, tt.wantLine) {
				t.Errorf("got /etc/hosts\n%s\nwant a line %q", hosts, tt.wantLine)
			}
		})
	}
}

func TestHostsFileAliases(t *testing.T) {
	pod := dnsPod(func(p *v1.Pod) {
		p.Spec.HostAliases = []v1.HostAlias{{IP: "192.0.2.7", Hostnames: []string{"foo.local", "bar.local"}}}
	})
	want := "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.244.1.5\tweb-0\n\n# Entries added by HostAliases.\n192.0.2.7\tfoo.local\tbar.local\n"
	if got := hostsFile(pod, "10.244.1.5", "cluster.local"); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	wantHost := "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n\n# Entries added by HostAliases.\n192.0.2.7\tfoo.local\tbar.local\n"
	if got := hostNetworkHostsFile(pod, []byte("127.0.0.1 localhost\n")); got != wantHost {
		t.Errorf("host network: got\n%q\nwant\n%q", got, wantHost)
	}
}
