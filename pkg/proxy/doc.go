// Package proxy is the Service proxy of minik8s: it programs one nftables
// table ("minik8s", family ip) from Services, EndpointSlices and node
// Leases, and makes one node hold each LoadBalancer IP.
//
// The wanted table is computed as a pure value (Compute, one fragment per
// Service, cached by object identity) and written by a separate writer as
// one atomic netlink batch per sync: the first sync replaces the whole
// table, later ones send only the elements and chains of the Services that
// changed.
//
// Layout. A packet's first lookup is a verdict map keyed by
// (ip daddr . l4proto . th dport) for ClusterIPs and LoadBalancer IPs, or
// (l4proto . th dport) on local addresses for NodePorts (the map first,
// which most packets miss, then fib for the address). A Service with n
// endpoints (n <= 64, no session affinity, externalTrafficPolicy Cluster)
// owns no chain and no rule, only map elements: its dispatch element says
// "goto pick_n", and the shared chain pick_n marks the packet for
// masquerade (source outside the cluster CIDR) and DNATs to entry
// (frontend . numgen random mod n) of the endpoint map. A full sync is
// thus a few hundred netlink messages of map elements, and a change of
// endpoints touches no rule, so the kernel does not re-validate the whole
// table. Services with affinity, externalTrafficPolicy Local or more
// endpoints get a chain of their own with one DNAT rule per endpoint (the
// i-th taken with probability 1/(n-i)); with ClientIP affinity, a client
// recorded in an endpoint's set goes back to it, on the external (Local)
// chain too, which shares those sets. Measured on this kernel:
// per-Service anonymous maps and data maps bound by many rules make the
// kernel's work quadratic in the number of Services.
//
// Postrouting masquerades marked packets, and DNATed packets from a pod to
// an endpoint on this node (hairpin), whose reply would otherwise bypass
// conntrack. Filter chains reject new connections to Services without
// endpoints (TCP reset, ICMP port unreachable): one set lookup for
// ClusterIPs and one for NodePorts per new connection, whatever its
// destination.
//
// Every SyncPeriod the writer checks that the kernel still holds what it
// wrote, contents included (a rule or an element someone changed, not
// only removed), and a difference makes the next sync rewrite the table.
// While the netns's ruleset generation has not moved since the last good
// check nothing can differ, so the check is one small request; otherwise
// it reads every chain and set back (about 0.2 s at 10,000 Services).
package proxy
