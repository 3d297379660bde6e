package lab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"text/template"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"minik8s/pkg/netns"
)

// checkRootForwarding refuses to go on when the root namespace forwards:
// the lab never turns forwarding on there, and never off either, since
// the machine's owner turned it on for a reason of theirs.
func checkRootForwarding() error {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err != nil {
		return fmt.Errorf("reading net.ipv4.ip_forward: %w", err)
	}
	if strings.TrimSpace(string(b)) != "0" {
		return errors.New("net.ipv4.ip_forward is 1 in the root network namespace: the lab keeps its traffic inside its bridge and needs forwarding off there; turn it off with `sysctl -w net.ipv4.ip_forward=0` (or run the lab on another machine)")
	}
	return nil
}

// safetyRules is the lab's nftables table in the root namespace. Loopback
// stays allowed (the root namespace talking to 10.200.0.1 goes over lo).
var safetyRules = template.Must(template.New("nft").Parse(`table inet {{.Table}} {
	set lab_ranges {
		type ipv4_addr
		flags interval
		elements = { {{.Ranges}} }
	}
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		iifname "{{.Bridge}}" oifname != "{{.Bridge}}" counter drop
		ip daddr @lab_ranges oifname != "{{.Bridge}}" counter drop
	}
	chain output {
		type filter hook output priority filter - 10; policy accept;
		ip daddr @lab_ranges oifname != { "{{.Bridge}}", "lo" } counter drop
	}
	chain input {
		type filter hook input priority filter - 10; policy accept;
		iifname "{{.Bridge}}" ct state established,related accept
		iifname "{{.Bridge}}" ip saddr {{.Nodes}} accept
		iifname "{{.Bridge}}" counter drop
	}
}
`))

// renderSafetyRules returns the nft script for a lab of count nodes.
func renderSafetyRules(count int) string {
	var b bytes.Buffer
	safetyRules.Execute(&b, map[string]string{
		"Table":  NftTable,
		"Bridge": BridgeName,
		"Ranges": strings.Join(LabRanges, ", "),
		"Nodes":  nodeAddrRange(count),
	})
	return b.String()
}

func nft(stdin string, args ...string) error {
	cmd := exec.Command("nft", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("nft %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// installSafety puts the root namespace's guards in place: the nftables
// table and the unreachable routes for the pod and Service ranges. It runs
// before any node exists.
func installSafety(count int) error {
	if err := checkRootForwarding(); err != nil {
		return err
	}
	if err := nft(renderSafetyRules(count), "-f", "-"); err != nil {
		return fmt.Errorf("installing the lab's nftables table: %w", err)
	}
	for _, cidr := range []string{ClusterCIDR, ServiceCIDR} {
		_, dst, _ := net.ParseCIDR(cidr)
		r := &netlink.Route{Dst: dst, Type: unix.RTN_UNREACHABLE}
		if err := netlink.RouteReplace(r); err != nil {
			return fmt.Errorf("adding unreachable route for %s: %w", cidr, err)
		}
	}
	return nil
}

// createBridge makes mk8s0 with 10.200.0.1/24 and brings it up.
func createBridge() error {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: BridgeName}}
	if err := netlink.LinkAdd(br); err != nil {
		return fmt.Errorf("creating bridge %s: %w", BridgeName, err)
	}
	addr, _ := netlink.ParseAddr(GatewayAddr + "/24")
	if err := netlink.AddrAdd(br, addr); err != nil {
		return fmt.Errorf("addressing %s: %w", BridgeName, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		return fmt.Errorf("bringing %s up: %w", BridgeName, err)
	}
	return nil
}

// createNode makes the node's namespace and wires it to the bridge:
// veth pair, eth0 with the node's address, lo up, default route via the
// gateway, routes to the other nodes' pod ranges, forwarding on inside the
// node only, and the root namespace's route to the node's pod range.
func createNode(n Node, all []Node) error {
	if _, err := os.Stat(n.NetnsPath()); err == nil {
		return fmt.Errorf("network namespace %s already exists: it is a leftover of a lab; remove it with `ctl lab down` (or `ip netns del %s`)", n.Netns(), n.Netns())
	}
	if err := createNamedNetns(n.Netns()); err != nil {
		return fmt.Errorf("creating network namespace %s: %w", n.Netns(), err)
	}
	br, err := netlink.LinkByName(BridgeName)
	if err != nil {
		return fmt.Errorf("finding bridge %s: %w", BridgeName, err)
	}
	peer := "mk8s-p" + fmt.Sprint(n.Index)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.HostVeth(), MasterIndex: br.Attrs().Index}, PeerName: peer}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating veth %s: %w", n.HostVeth(), err)
	}
	host, err := netlink.LinkByName(n.HostVeth())
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("bringing %s up: %w", n.HostVeth(), err)
	}
	peerLink, err := netlink.LinkByName(peer)
	if err != nil {
		return err
	}
	ns, err := os.Open(n.NetnsPath())
	if err != nil {
		return fmt.Errorf("opening %s: %w", n.NetnsPath(), err)
	}
	defer ns.Close()
	if err := netlink.LinkSetNsFd(peerLink, int(ns.Fd())); err != nil {
		return fmt.Errorf("moving %s into %s: %w", peer, n.Netns(), err)
	}
	var h *netlink.Handle
	if err := netns.DoFd(int(ns.Fd()), func() (err error) { h, err = netlink.NewHandle(); return err }); err != nil {
		return fmt.Errorf("netlink in %s: %w", n.Netns(), err)
	}
	defer h.Close()
	eth, err := h.LinkByName(peer)
	if err != nil {
		return err
	}
	if err := h.LinkSetName(eth, "eth0"); err != nil {
		return fmt.Errorf("renaming %s to eth0 in %s: %w", peer, n.Netns(), err)
	}
	addr, _ := netlink.ParseAddr(n.IP() + "/24")
	if err := h.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("addressing eth0 in %s: %w", n.Netns(), err)
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bringing eth0 up in %s: %w", n.Netns(), err)
	}
	if lo, err := h.LinkByName("lo"); err == nil {
		if err := h.LinkSetUp(lo); err != nil {
			return fmt.Errorf("bringing lo up in %s: %w", n.Netns(), err)
		}
	}
	gw := net.ParseIP(GatewayAddr)
	if err := h.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}); err != nil {
		return fmt.Errorf("default route in %s: %w", n.Netns(), err)
	}
	for _, o := range all {
		if o.Index == n.Index {
			continue
		}
		_, dst, _ := net.ParseCIDR(o.PodCIDR())
		if err := h.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Dst: dst, Gw: net.ParseIP(o.IP())}); err != nil {
			return fmt.Errorf("route to %s in %s: %w", o.PodCIDR(), n.Netns(), err)
		}
	}
	if err := nsSysctl(n.NetnsPath(), "net.ipv4.ip_forward", "1"); err != nil {
		return err
	}
	_, dst, _ := net.ParseCIDR(n.PodCIDR())
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: br.Attrs().Index, Dst: dst, Gw: net.ParseIP(n.IP())}); err != nil {
		return fmt.Errorf("root route to %s: %w", n.PodCIDR(), err)
	}
	return nil
}

// setNodeLink brings the root end of the node's veth up or down: a node
// that is powered off drops off the bridge.
func setNodeLink(n Node, up bool) error {
	l, err := netlink.LinkByName(n.HostVeth())
	if err != nil {
		return fmt.Errorf("finding %s: %w", n.HostVeth(), err)
	}
	if up {
		err = netlink.LinkSetUp(l)
	} else {
		err = netlink.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("setting %s up=%v: %w", n.HostVeth(), up, err)
	}
	if up {
		// The route via the node goes away with the link; put it back.
		br, err := netlink.LinkByName(BridgeName)
		if err != nil {
			return err
		}
		_, dst, _ := net.ParseCIDR(n.PodCIDR())
		if err := netlink.RouteReplace(&netlink.Route{LinkIndex: br.Attrs().Index, Dst: dst, Gw: net.ParseIP(n.IP())}); err != nil {
			return fmt.Errorf("root route to %s: %w", n.PodCIDR(), err)
		}
	}
	return nil
}

// removeNetwork undoes everything above, in reverse, and says what it
// removed. Missing pieces are fine: it runs after crashes and twice.
func removeNetwork() (removed []string, errs []error) {
	for _, name := range labNetnsNames() {
		if err := deleteNamedNetns(name); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "netns "+name)
		}
	}
	links, _ := netlink.LinkList()
	for _, l := range links {
		name := l.Attrs().Name
		if strings.HasPrefix(name, vethHostPrefix) || strings.HasPrefix(name, "mk8s-p") {
			if err := netlink.LinkDel(l); err == nil {
				removed = append(removed, "link "+name)
			}
		}
	}
	if l, err := netlink.LinkByName(BridgeName); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", BridgeName, err))
		} else {
			removed = append(removed, "bridge "+BridgeName)
		}
	}
	// Routes via the bridge left with it; the unreachable ones and any route
	// into the lab ranges that another interface still carries go now.
	routes, _ := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if r.Dst.String() == ClusterCIDR || r.Dst.String() == ServiceCIDR ||
			(r.Type == unix.RTN_UNREACHABLE && inLabRanges(r.Dst)) {
			rr := r
			if err := netlink.RouteDel(&rr); err == nil {
				removed = append(removed, "route "+r.Dst.String())
			}
		}
	}
	if err := exec.Command("nft", "list", "table", "inet", NftTable).Run(); err == nil {
		if err := nft("", "delete", "table", "inet", NftTable); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, "nftables table inet "+NftTable)
		}
	}
	return removed, errs
}

func inLabRanges(n *net.IPNet) bool {
	for _, r := range LabRanges {
		_, lr, _ := net.ParseCIDR(r)
		if lr.Contains(n.IP) {
			return true
		}
	}
	return false
}

// networkLeftovers names the lab's network pieces that exist now.
func networkLeftovers() []string {
	var left []string
	for _, n := range labNetnsNames() {
		left = append(left, "netns "+n)
	}
	if _, err := netlink.LinkByName(BridgeName); err == nil {
		left = append(left, "bridge "+BridgeName)
	}
	if err := exec.Command("nft", "list", "table", "inet", NftTable).Run(); err == nil {
		left = append(left, "nftables table inet "+NftTable)
	}
	return left
}
