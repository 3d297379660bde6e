package lab

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The lab's fixed address plan (DESIGN.md, "The lab").
const (
	BridgeName     = "mk8s0"
	GatewayAddr    = "10.200.0.1"
	NodeNetwork    = "10.200.0.0/24"
	ClusterCIDR    = "10.244.0.0/16"
	ServiceCIDR    = "10.96.0.0/16"
	LBPool         = "10.200.0.200-10.200.0.250"
	RegistryAddr   = GatewayAddr + ":5000"
	APIPort        = 6443
	NftTable       = "minik8s-lab"
	netnsPrefix    = "mk8s-node"
	vethHostPrefix = "mk8s-veth"
	// MaxNodes keeps node addresses (10.200.0.11 …) below the LB pool and
	// pod CIDRs inside 10.244.0.0/16.
	MaxNodes = 100
)

// LabRanges are the destinations that must never leave by an interface
// other than the lab bridge.
var LabRanges = []string{NodeNetwork, ClusterCIDR, ServiceCIDR}

// Node is one node of the lab and its addresses.
type Node struct {
	Index int
}

// Name is the Node object's name, also its containerd namespace.
func (n Node) Name() string { return "node" + strconv.Itoa(n.Index) }

// Netns is the name of the node's network namespace.
func (n Node) Netns() string { return netnsPrefix + strconv.Itoa(n.Index) }

// NetnsPath is the bind mount of the node's network namespace.
func (n Node) NetnsPath() string { return "/run/netns/" + n.Netns() }

// HostVeth is the name of the root-side end of the node's veth pair.
func (n Node) HostVeth() string { return vethHostPrefix + strconv.Itoa(n.Index) }

// IP is the node's address on the lab bridge.
func (n Node) IP() string { return fmt.Sprintf("10.200.0.%d", 10+n.Index) }

// PodCIDR is the node's pod range.
func (n Node) PodCIDR() string { return fmt.Sprintf("10.244.%d.0/24", n.Index) }

// Component is the supervisor's name for the node's agent, also its log
// file's base name.
func (n Node) Component() string { return "kubelet-" + n.Name() }

// Nodes returns nodes 1..count.
func Nodes(count int) []Node {
	nodes := make([]Node, count)
	for i := range nodes {
		nodes[i] = Node{Index: i + 1}
	}
	return nodes
}

// ParseNode accepts "node2", "2" or "mk8s-node2" and checks the index
// against the lab's node count.
func ParseNode(s string, count int) (Node, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, netnsPrefix), "node")
	i, err := strconv.Atoi(t)
	if err != nil || t != strconv.Itoa(i) {
		return Node{}, fmt.Errorf("%q is not a lab node: name one as node1 … node%d", s, count)
	}
	if i < 1 || i > count {
		return Node{}, fmt.Errorf("the lab has no node %q: its nodes are node1 … node%d", s, count)
	}
	return Node{Index: i}, nil
}

// nodeAddrRange is the range of node addresses for the input filter, e.g.
// "10.200.0.11-10.200.0.13".
func nodeAddrRange(count int) string {
	return Node{Index: 1}.IP() + "-" + Node{Index: count}.IP()
}

// validNodeCount checks a --nodes value.
func validNodeCount(n int) error {
	if n < 1 || n > MaxNodes {
		return fmt.Errorf("--nodes %d: want 1 … %d", n, MaxNodes)
	}
	return nil
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
