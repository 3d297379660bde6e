// Package nodeipam gives each Node without a spec.podCIDR a subnet of the
// cluster CIDR. CIDRs nodes already carry (an agent started with
// --pod-cidr) are marked used first, so a subnet is never handed out twice;
// the allocation is rebuilt from the Nodes at start (stable across
// restarts) and a deleted Node's subnet is released. IPv4 only.
package nodeipam
