package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// testNet is a throwaway topology:
//
//	client ns  10.200.0.1 --veth-- 10.200.0.11 node ns 10.244.1.1 --veth-- 10.244.1.5,.6 endpoint ns
//
// The proxy programs the node ns. Every namespace is removed by t.Cleanup.
type testNet struct {
	node, ep, client string
	nodeFd, epFd     int
	clientFd         int
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTestNet(t testing.TB) *testNet {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("kernel test needs root (network namespaces, nftables)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("kernel test needs iproute2")
	}
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	n := &testNet{node: "pxt-" + id + "-n", ep: "pxt-" + id + "-e", client: "pxt-" + id + "-c"}
	for _, ns := range []string{n.node, n.ep, n.client} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	in := func(ns string, args ...string) { sh(t, append([]string{"ip", "netns", "exec", ns}, args...)...) }
	// Links are created inside the namespaces, never in the root one.
	in(n.node, "ip", "link", "add", "pxn0", "type", "veth", "peer", "name", "pxe0", "netns", n.ep)
	in(n.node, "ip", "link", "add", "pxc-n", "type", "veth", "peer", "name", "pxc0", "netns", n.client)
	in(n.node, "ip", "addr", "add", "10.244.1.1/24", "dev", "pxn0")
	in(n.node, "ip", "addr", "add", "10.200.0.11/24", "dev", "pxc-n")
	in(n.node, "ip", "link", "set", "lo", "up")
	in(n.node, "ip", "link", "set", "pxn0", "up")
	in(n.node, "ip", "link", "set", "pxc-n", "up")
	in(n.node, "ip", "route", "add", "10.96.0.0/16", "dev", "pxn0")
	in(n.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	in(n.ep, "ip", "addr", "add", "10.244.1.5/24", "dev", "pxe0")
	in(n.ep, "ip", "addr", "add", "10.244.1.6/24", "dev", "pxe0")
	in(n.ep, "ip", "link", "set", "lo", "up")
	in(n.ep, "ip", "link", "set", "pxe0", "up")
	in(n.ep, "ip", "route", "add", "default", "via", "10.244.1.1")
	in(n.client, "ip", "addr", "add", "10.200.0.1/24", "dev", "pxc0")
	in(n.client, "ip", "link", "set", "lo", "up")
	in(n.client, "ip", "link", "set", "pxc0", "up")
	in(n.client, "sysctl", "-qw", "net.ipv4.conf.pxc0.arp_accept=1")
	for name, fd := range map[string]*int{n.node: &n.nodeFd, n.ep: &n.epFd, n.client: &n.clientFd} {
		h, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("opening netns %s: %v", name, err)
		}
		*fd = h
		t.Cleanup(func() { unix.Close(h) })
	}
	return n
}

// nft runs one nft command in the node namespace and gives its output.
func (n *testNet) nft(t testing.TB, cmd string) string {
	return sh(t, "ip", "netns", "exec", n.node, "nft", cmd)
}

// webElem is the endpoints map element of web's single endpoint.
const webElem = "10.96.0.10 . tcp . 80 . 0x00000000 : 10.244.1.5 . 8080"

// serveTCP answers every connection on the endpoint ns with the local
// address the client reached.
func (n *testNet) serveTCP(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	if err := inNetNS(n.epFd, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", c.LocalAddr())
			}()
		}
	}()
}

// serveTCPRemote answers every connection with the client's address as
// the endpoint sees it.
func (n *testNet) serveTCPRemote(t testing.TB, addr string) {
	t.Helper()
	var ln net.Listener
	if err := inNetNS(n.epFd, func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "%s\n", c.RemoteAddr().(*net.TCPAddr).IP)
			}()
		}
	}()
}

// serveUDP answers every datagram with the address it was sent to.
func (n *testNet) serveUDP(t testing.TB, addr string) {
	t.Helper()
	var pc net.PacketConn
	if err := inNetNS(n.epFd, func() (err error) { pc, err = net.ListenPacket("udp4", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(pc.LocalAddr().String()), from)
		}
	}()
}

// get connects from netns fd to addr and returns the endpoint's answer.
func get(fd int, addr string) (string, error) {
	var c net.Conn
	err := inNetNS(fd, func() (err error) {
		c, err = net.DialTimeout("tcp4", addr, 3*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestKernel(t *testing.T) {
	n := newTestNet(t)
	n.serveTCP(t, ":8080")
	n.serveUDP(t, "10.244.1.5:5353")
	n.serveUDP(t, "10.244.1.6:5353")
	n.serveTCPRemote(t, ":8081")

	p, err := New(Config{NodeName: "node1", NodeIP: "10.200.0.11", ClusterCIDR: "10.244.0.0/16", Interface: "pxc-n"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.w.netnsFd = n.nodeFd
	t.Cleanup(func() { _ = p.w.Delete() })

	web := service("web", "10.96.0.10", func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30080
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "10.200.0.200"}}
	})
	empty := service("empty", "10.96.0.11")
	aff := service("aff", "10.96.0.12", func(s *v1.Service) { s.Spec.SessionAffinity = v1.ServiceAffinityClientIP })
	self := service("self", "10.96.0.13")
	dns := service("dns", "10.96.0.53", func(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolUDP; s.Spec.Ports[0].Port = 53 })
	two := []epSpec{{ip: "10.244.1.5", node: "node1", ready: true}, {ip: "10.244.1.6", node: "node1", ready: true}}
	slices := []*discoveryv1.EndpointSlice{
		slice("web", 8080, v1.ProtocolTCP, two...),
		slice("aff", 8080, v1.ProtocolTCP, two...),
		slice("self", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", node: "node1", ready: true}),
		slice("dns", 5353, v1.ProtocolUDP, two...),
	}
	nodePort := func(name, ip string, port int32, local bool) *v1.Service {
		return service(name, ip, func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = port
			if local {
				s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			}
		})
	}
	loc, clu := nodePort("loc", "10.96.0.20", 30081, true), nodePort("clu", "10.96.0.21", 30082, false)
	locAff := nodePort("locaff", "10.96.0.22", 30083, true)
	npEmpty := nodePort("npempty", "10.96.0.23", 30084, false)
	udpEmpty := service("udpempty", "10.96.0.24", func(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolUDP; s.Spec.Ports[0].Port = 53 })
	locAff.Spec.SessionAffinity = v1.ServiceAffinityClientIP
	slices = append(slices,
		slice("loc", 8081, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", node: "node1", ready: true}, epSpec{ip: "10.244.9.9", node: "node2", ready: true}),
		slice("clu", 8081, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", node: "node1", ready: true}),
		slice("locaff", 8080, v1.ProtocolTCP, append(two, epSpec{ip: "10.244.9.9", node: "node2", ready: true})...))
	svcs := []*v1.Service{web, empty, aff, self, dns, loc, clu, locAff, npEmpty, udpEmpty}
	if p.Serves("10.244.1.5") {
		t.Error("Serves before any sync")
	}
	if err := p.Sync(svcs, slices, false); err != nil {
		t.Fatalf("first sync: %v", err)
	}
	// The agent asks this of a pod it is about to stop: this node's
	// endpoints are served, another node's are not its business.
	for ip, want := range map[string]bool{"10.244.1.5": true, "10.244.1.6": true, "10.244.9.9": false, "10.244.1.7": false, "nope": false} {
		if got := p.Serves(ip); got != want {
			t.Errorf("Serves(%s) = %v, want %v", ip, got, want)
		}
	}

	t.Run("clusterip from node balances over endpoints", func(t *testing.T) {
		seen := map[string]int{}
		for i := 0; i < 40; i++ {
			got, err := get(n.nodeFd, "10.96.0.10:80")
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			seen[got]++
		}
		if seen["10.244.1.5:8080"] == 0 || seen["10.244.1.6:8080"] == 0 || len(seen) != 2 {
			t.Errorf("got %v, want both endpoints", seen)
		}
	})
	t.Run("no endpoints is refused at once", func(t *testing.T) {
		_, err := get(n.nodeFd, "10.96.0.11:80")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want connection refused", err)
		}
	})
	t.Run("nodeport without endpoints is refused at once", func(t *testing.T) {
		_, err := get(n.clientFd, "10.200.0.11:30084")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want connection refused", err)
		}
	})
	t.Run("udp to a service without endpoints gets port unreachable", func(t *testing.T) {
		var c net.Conn
		if err := inNetNS(n.nodeFd, func() (err error) { c, err = net.Dial("udp4", "10.96.0.24:53"); return err }); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write([]byte("q"))
		if _, err := c.Read(make([]byte, 10)); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want connection refused (ICMP port unreachable)", err)
		}
	})
	t.Run("a nodeport's port on a pod address is not the nodeport", func(t *testing.T) {
		// 30080 is web's NodePort, but 10.244.1.5 is not this node's:
		// the pod itself refuses (it serves 8080 only).
		got, err := get(n.nodeFd, "10.244.1.5:30080")
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %q, %v; want connection refused by the pod", got, err)
		}
	})
	t.Run("nodeport from outside", func(t *testing.T) {
		got, err := get(n.clientFd, "10.200.0.11:30080")
		if err != nil || !strings.HasPrefix(got, "10.244.1.") {
			t.Errorf("got %q, %v; want an endpoint", got, err)
		}
	})
	t.Run("nodeport with externalTrafficPolicy Local keeps the client address and local endpoints", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			got, err := get(n.clientFd, "10.200.0.11:30081")
			if err != nil || got != "10.200.0.1" {
				t.Fatalf("request %d: endpoint saw %q, %v; want the client 10.200.0.1", i, got, err)
			}
		}
	})
	t.Run("nodeport with policy Cluster is masqueraded", func(t *testing.T) {
		got, err := get(n.clientFd, "10.200.0.11:30082")
		if err != nil || got != "10.244.1.1" {
			t.Errorf("endpoint saw %q, %v; want the node address 10.244.1.1", got, err)
		}
	})
	// sticks: 20 more requests from fd to addr reach the first one's endpoint.
	sticks := func(t *testing.T, fd int, addr string) {
		first, err := get(fd, addr)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			got, err := get(fd, addr)
			if err != nil || got != first {
				t.Fatalf("request %d: got %q, %v; want %q", i, got, err, first)
			}
		}
	}
	t.Run("session affinity sticks", func(t *testing.T) { sticks(t, n.nodeFd, "10.96.0.12:80") })
	t.Run("session affinity sticks on a nodeport with externalTrafficPolicy Local", func(t *testing.T) {
		sticks(t, n.clientFd, "10.200.0.11:30083")
	})
	t.Run("hairpin: endpoint reaches itself through its service", func(t *testing.T) {
		got, err := get(n.epFd, "10.96.0.13:80")
		if err != nil || got != "10.244.1.5:8080" {
			t.Errorf("got %q, %v; want 10.244.1.5:8080", got, err)
		}
	})
	t.Run("pod to service on another endpoint", func(t *testing.T) {
		got, err := get(n.epFd, "10.96.0.10:80")
		if err != nil || !strings.HasPrefix(got, "10.244.1.") {
			t.Errorf("got %q, %v", got, err)
		}
	})
	// Removed in a partial sync and in a full one (start-up, after an
	// error, after a repair): either way the flow moves on.
	for i, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("udp flow moves when its endpoint goes (full sync %v)", full), func(t *testing.T) {
			var pc net.PacketConn
			if err := inNetNS(n.nodeFd, func() (err error) {
				pc, err = net.ListenPacket("udp4", fmt.Sprintf("10.244.1.1:%d", 40010+i))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			ask := func() string {
				dst := &net.UDPAddr{IP: net.ParseIP("10.96.0.53"), Port: 53}
				buf := make([]byte, 100)
				for try := 0; try < 3; try++ {
					_, _ = pc.WriteTo([]byte("q"), dst)
					_ = pc.SetReadDeadline(time.Now().Add(time.Second))
					k, _, err := pc.ReadFrom(buf)
					if err == nil {
						return string(buf[:k])
					}
				}
				return ""
			}
			first := ask()
			if first == "" {
				t.Fatal("no udp answer")
			}
			var keep epSpec
			for _, e := range two {
				if !strings.HasPrefix(first, e.ip+":") {
					keep = e
				}
			}
			slices2 := append([]*discoveryv1.EndpointSlice{}, slices...)
			slices2[3] = slice("dns", 5353, v1.ProtocolUDP, keep)
			if err := p.Sync(svcs, slices2, full); err != nil {
				t.Fatal(err)
			}
			if got := ask(); got != keep.ip+":5353" {
				t.Errorf("after removing %s: got answer from %q, want %s:5353", first, got, keep.ip)
			}
			if err := p.Sync(svcs, slices, false); err != nil {
				t.Fatal(err)
			}
		})
	}
	t.Run("udp flow that started before its service was programmed is DNATed", func(t *testing.T) {
		var pc net.PacketConn
		if err := inNetNS(n.nodeFd, func() (err error) { pc, err = net.ListenPacket("udp4", "10.244.1.1:40001"); return err }); err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		dst := &net.UDPAddr{IP: net.ParseIP("10.96.0.54"), Port: 53}
		// Unknown yet: routed as is, and conntrack remembers it that way.
		_, _ = pc.WriteTo([]byte("q"), dst)
		time.Sleep(100 * time.Millisecond)
		dns2 := service("dns2", "10.96.0.54", func(s *v1.Service) { s.Spec.Ports[0].Protocol = v1.ProtocolUDP; s.Spec.Ports[0].Port = 53 })
		all := append(append([]*v1.Service{}, svcs...), dns2)
		sls := append(append([]*discoveryv1.EndpointSlice{}, slices...), slice("dns2", 5353, v1.ProtocolUDP, epSpec{ip: "10.244.1.5", ready: true}))
		if err := p.Sync(all, sls, false); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 100)
		got := ""
		for try := 0; try < 3 && got == ""; try++ {
			_, _ = pc.WriteTo([]byte("q"), dst)
			_ = pc.SetReadDeadline(time.Now().Add(time.Second))
			if k, _, err := pc.ReadFrom(buf); err == nil {
				got = string(buf[:k])
			}
		}
		if got != "10.244.1.5:5353" {
			t.Errorf("got answer %q, want one from 10.244.1.5:5353", got)
		}
		if err := p.Sync(svcs, slices, false); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("loadbalancer ip announced, reachable, released", func(t *testing.T) {
		a := &announcer{cfg: p.cfg, netnsFd: n.nodeFd, held: map[string]bool{}}
		a.apply(map[string]bool{"10.200.0.200": true})
		neigh := sh(t, "ip", "netns", "exec", n.client, "ip", "neigh", "show", "10.200.0.200")
		if !strings.Contains(neigh, "lladdr") {
			t.Errorf("client learnt no neighbour from the gratuitous ARP: %q", neigh)
		}
		got, err := get(n.clientFd, "10.200.0.200:80")
		if err != nil || !strings.HasPrefix(got, "10.244.1.") {
			t.Errorf("got %q, %v", got, err)
		}
		a.apply(map[string]bool{})
		addrs := sh(t, "ip", "netns", "exec", n.node, "ip", "-4", "addr", "show", "dev", "pxc-n")
		if strings.Contains(addrs, "10.200.0.200") {
			t.Errorf("address still held after release: %s", addrs)
		}
	})
	t.Run("deleted service is gone at the next sync", func(t *testing.T) {
		if err := p.Sync([]*v1.Service{web, empty, aff, dns, loc, clu}, slices, false); err != nil {
			t.Fatal(err)
		}
		out := n.nft(t, "list table ip "+TableName)
		if strings.Contains(out, "svc_default_self") || strings.Contains(out, "10.96.0.13") {
			t.Errorf("rules of deleted service remain:\n%s", out)
		}
		if _, err := get(n.nodeFd, "10.96.0.13:80"); err == nil {
			t.Errorf("deleted service still answers")
		}
	})
	t.Run("verify accepts the table as written", func(t *testing.T) {
		if err := p.w.Verify(); err != nil {
			t.Fatal(err)
		}
	})
	// repaired: the periodic check notices what someone else changed,
	// a full sync puts the table back, and web answers again.
	repaired := func(t *testing.T, what string) {
		t.Helper()
		if err := p.w.Verify(); err == nil {
			t.Fatalf("verify did not notice %s", what)
		}
		if err := p.Sync(svcs, slices, true); err != nil {
			t.Fatal(err)
		}
		if err := p.w.Verify(); err != nil {
			t.Fatalf("verify after repair: %v", err)
		}
		if got, err := get(n.nodeFd, "10.96.0.10:80"); err != nil || !strings.HasPrefix(got, "10.244.1.") {
			t.Errorf("after repair: got %q, %v", got, err)
		}
	}
	t.Run("changed map element and rule are noticed and repaired", func(t *testing.T) {
		if out := n.nft(t, "list map ip minik8s endpoints"); !strings.Contains(out, webElem) {
			t.Fatalf("no element %q in\n%s", webElem, out)
		}
		// Same key, another port: the element count stays the same.
		n.nft(t, "delete element ip minik8s endpoints { 10.96.0.10 . tcp . 80 . 0x0 }")
		n.nft(t, "add element ip minik8s endpoints { 10.96.0.10 . tcp . 80 . 0x0 : 10.244.1.5 . 8081 }")
		repaired(t, "the changed element")
		if out := n.nft(t, "list map ip minik8s endpoints"); !strings.Contains(out, webElem) {
			t.Errorf("element %q not restored:\n%s", webElem, out)
		}
		// A rule replaced by another: the rule count stays the same.
		n.nft(t, "flush chain ip minik8s "+pickChain(2))
		n.nft(t, "add rule ip minik8s "+pickChain(2)+" meta mark set 0x1")
		n.nft(t, "add rule ip minik8s "+pickChain(2)+" drop")
		repaired(t, "the changed rule")
	})
	t.Run("table removed by someone else is noticed and rewritten", func(t *testing.T) {
		n.nft(t, "delete table ip "+TableName)
		repaired(t, "the missing table")
	})
}

// startRun runs a Proxy (informers, batching, periodic check) for web and
// its one endpoint in n, configured by cfg on top of the common settings.
// synced gets a value after each sync; stop ends Run and gives its error.
func startRun(t *testing.T, n *testNet, cfg Config) (synced <-chan struct{}, stop func() error) {
	t.Helper()
	web := service("web", "10.96.0.10")
	client := testAPI(t, web, slice("web", 8080, v1.ProtocolTCP, epSpec{ip: "10.244.1.5", node: "node1", ready: true}))
	cfg.NodeName, cfg.ClusterCIDR, cfg.MinSyncPeriod, cfg.CleanupOnExit = "node1", "10.244.0.0/16", 10*time.Millisecond, true
	p, err := New(cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	p.w.netnsFd = n.nodeFd
	ch := make(chan struct{}, 100)
	p.OnSync = func(*State) { ch <- struct{}{} }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return ch, func() error { cancel(); return <-done }
}

// TestRunCleanupOnExit runs the whole Proxy (informers, batching, cleanup)
// against a real apiserver inside a throwaway namespace.
func TestRunCleanupOnExit(t *testing.T) {
	n := newTestNet(t)
	n.serveTCP(t, ":8080")
	synced, stop := startRun(t, n, Config{})
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("no sync")
	}
	if got, err := get(n.nodeFd, "10.96.0.10:80"); err != nil || got != "10.244.1.5:8080" {
		t.Errorf("got %q, %v", got, err)
	}
	if err := stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	out, _ := exec.Command("ip", "netns", "exec", n.node, "nft", "list", "table", "ip", TableName).CombinedOutput()
	if !strings.Contains(string(out), "No such file") {
		t.Errorf("table left after clean exit: %s", out)
	}
}

// TestRunRepairsEditedTable: a map element changed by hand is put back by
// Run's periodic check, without any change in the API.
func TestRunRepairsEditedTable(t *testing.T) {
	n := newTestNet(t)
	synced, stop := startRun(t, n, Config{SyncPeriod: 100 * time.Millisecond})
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	// Syncs come from API events and from repairs: wait for the one that
	// leaves webElem in place.
	waitElem := func(what string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case <-synced:
				if strings.Contains(n.nft(t, "list map ip minik8s endpoints"), webElem) {
					return
				}
			case <-deadline:
				t.Fatalf("%s: no element %q in\n%s", what, webElem, n.nft(t, "list map ip minik8s endpoints"))
			}
		}
	}
	waitElem("first sync")
	// One transaction, so that a repair cannot run in between.
	n.nft(t, "delete element ip minik8s endpoints { 10.96.0.10 . tcp . 80 . 0x0 }; add element ip minik8s endpoints { 10.96.0.10 . tcp . 80 . 0x0 : 10.244.1.9 . 8080 }")
	if strings.Contains(n.nft(t, "list map ip minik8s endpoints"), webElem) {
		t.Fatal("the element was not changed")
	}
	waitElem("after the edit")
}
