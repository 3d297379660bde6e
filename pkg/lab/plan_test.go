package lab

import (
	"strings"
	"testing"
	"time"
)

func TestNodeAddresses(t *testing.T) {
	tests := []struct {
		index                                    int
		name, netns, ip, podCIDR, veth, compName string
	}{
		{1, "node1", "mk8s-node1", "10.200.0.11", "10.244.1.0/24", "mk8s-veth1", "kubelet-node1"},
		{3, "node3", "mk8s-node3", "10.200.0.13", "10.244.3.0/24", "mk8s-veth3", "kubelet-node3"},
		{100, "node100", "mk8s-node100", "10.200.0.110", "10.244.100.0/24", "mk8s-veth100", "kubelet-node100"},
	}
	for _, tt := range tests {
		n := Node{Index: tt.index}
		for _, c := range []struct{ what, got, want string }{
			{"name", n.Name(), tt.name}, {"netns", n.Netns(), tt.netns}, {"ip", n.IP(), tt.ip},
			{"pod CIDR", n.PodCIDR(), tt.podCIDR}, {"veth", n.HostVeth(), tt.veth}, {"component", n.Component(), tt.compName},
		} {
			if c.got != c.want {
				t.Errorf("node %d %s: got %q, want %q", tt.index, c.what, c.got, c.want)
			}
		}
		if len(n.HostVeth()) > 15 {
			t.Errorf("node %d: veth name %q longer than IFNAMSIZ-1", tt.index, n.HostVeth())
		}
		if !mustPrefix(ClusterCIDR).Contains(mustPrefix(n.PodCIDR()).Addr()) {
			t.Errorf("node %d: pod CIDR %s outside %s", tt.index, n.PodCIDR(), ClusterCIDR)
		}
	}
}

func TestNodeIPsBelowLBPool(t *testing.T) {
	last := Node{Index: MaxNodes}.IP()
	if got, want := mustPrefix(last+"/32").Addr(), mustPrefix("10.200.0.200/32").Addr(); !got.Less(want) {
		t.Errorf("last node address %s reaches the LB pool", last)
	}
}

func TestParseNode(t *testing.T) {
	tests := []struct {
		in      string
		count   int
		want    int
		wantErr bool
	}{
		{"node2", 3, 2, false},
		{"2", 3, 2, false},
		{"mk8s-node3", 3, 3, false},
		{"node4", 3, 0, true},
		{"node0", 3, 0, true},
		{"nodex", 3, 0, true},
		{"node02", 3, 0, true},
		{"", 3, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseNode(tt.in, tt.count)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseNode(%q): err %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && n.Index != tt.want {
				t.Errorf("ParseNode(%q): got node %d, want %d", tt.in, n.Index, tt.want)
			}
		})
	}
}

func TestNodeAddrRange(t *testing.T) {
	if got, want := nodeAddrRange(3), "10.200.0.11-10.200.0.13"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, n := range []int{0, MaxNodes + 1} {
		if validNodeCount(n) == nil {
			t.Errorf("validNodeCount(%d): want an error", n)
		}
	}
}

func mustDur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestPlanComponents(t *testing.T) {
	p := paths{"/state"}
	bins := map[string]string{"kubelet-lite": "/b/kubelet-lite", "container-logger": "/b/container-logger", "apiserver": "/b/apiserver"}
	cs := planComponents(p, bins, Nodes(2))
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if got, want := strings.Join(names, ","), "containerd,registry,apiserver,controller-manager,scheduler,kubelet-node1,kubelet-node2"; got != want {
		t.Errorf("components: got %s, want %s", got, want)
	}
	if got, want := cs[6].Netns, "/run/netns/mk8s-node2"; got != want {
		t.Errorf("agent's network namespace: got %q, want %q", got, want)
	}
	agent := strings.Join(cs[6].Args, " ")
	for _, want := range []string{"/b/kubelet-lite --bootstrap-kubeconfig", "--pod-cidr 10.244.2.0/24", "--node-ip 10.200.0.12", "--containerd-namespace node2", "--container-logger /b/container-logger", "--registry-mirror docker.io=http://10.200.0.1:5000", "--lease-duration 8s", "--allowed-peer 10.200.0.1"} {
		if !strings.Contains(agent, want) {
			t.Errorf("agent args lack %q: %s", want, agent)
		}
	}
	if !strings.HasPrefix(agent, "/b/kubelet-lite ") {
		t.Errorf("agent not started as itself (through a wrapper): %s", agent)
	}
	api := strings.Join(cs[2].Args, " ")
	for _, want := range []string{"--listen 10.200.0.1:6443", "--listen 127.0.0.1:6443", "--default-unreachable-toleration-seconds 30"} {
		if !strings.Contains(api, want) {
			t.Errorf("apiserver args lack %q: %s", want, api)
		}
	}
	if !strings.Contains(renderSafetyRules(2), "ip saddr 10.200.0.11-10.200.0.12 accept") {
		t.Errorf("safety rules:\n%s", renderSafetyRules(2))
	}
}
