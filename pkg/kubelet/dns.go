package kubelet

import (
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// The pod DNS files as the kubelet writes them (pkg/kubelet/network/dns
// for resolv.conf, kubelet_pods.go for /etc/hosts and the hostname).

// Limits of a pod's resolv.conf, as the kubelet applies them
// (validation.MaxDNSNameservers and the expanded search limits, GA since
// Kubernetes 1.28).
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
	maxDNSNameLength      = 253
	maxHostnameLength     = 63
	maxFQDNLength         = 64
)

// dnsConfig is what a pod's resolv.conf holds.
type dnsConfig struct {
	Servers  []string
	Searches []string
	Options  []string
}

// parseResolvConf reads nameserver, search and options lines the way the
// kubelet does: nameservers accumulate, the last search and options lines
// win, search domains lose a trailing dot.
func parseResolvConf(b []byte) dnsConfig {
	c := dnsConfig{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimSpace(line))
		if len(f) == 0 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) >= 2 {
				c.Servers = append(c.Servers, f[1])
			}
		case "search":
			c.Searches = nil
			for _, s := range f[1:] {
				c.Searches = append(c.Searches, strings.TrimSuffix(s, "."))
			}
		case "options":
			c.Options = append([]string(nil), f[1:]...)
		}
	}
	return c
}

// podDNS computes a pod's resolv.conf contents from its dnsPolicy and
// dnsConfig, the agent's --cluster-dns and --cluster-domain and the node's
// resolv.conf (host). warnings are what the kubelet reports as
// MissingClusterDNS and DNSConfigForming Events.
func podDNS(pod *v1.Pod, clusterDNS, clusterDomain string, host []byte) (conf dnsConfig, warnings []string) {
	hostConf := parseResolvConf(host)
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	cluster := false
	switch policy {
	case v1.DNSNone:
		conf = dnsConfig{}
	case v1.DNSClusterFirstWithHostNet:
		cluster = true
	case v1.DNSClusterFirst:
		cluster = !pod.Spec.HostNetwork
	case v1.DNSDefault:
	default:
		// The apiserver rejects other policies; the kubelet treats one as
		// ClusterFirst.
		cluster = true
	}
	if policy != v1.DNSNone {
		conf = hostConf
	}
	if cluster {
		if clusterDNS != "" {
			conf.Servers = []string{clusterDNS}
			conf.Searches = hostConf.Searches
			if clusterDomain != "" {
				conf.Searches = omitDuplicates(append([]string{pod.Namespace + ".svc." + clusterDomain, "svc." + clusterDomain, clusterDomain}, hostConf.Searches...))
			}
			conf.Options = []string{"ndots:5"}
		} else {
			warnings = append(warnings, fmt.Sprintf("kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.", v1.DNSClusterFirst, v1.DNSDefault))
		}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		conf.Servers = omitDuplicates(append(slices.Clone(conf.Servers), dc.Nameservers...))
		conf.Searches = omitDuplicates(append(slices.Clone(conf.Searches), dc.Searches...))
		conf.Options = mergeDNSOptions(conf.Options, dc.Options)
	}
	if len(conf.Servers) > maxDNSNameservers {
		conf.Servers = conf.Servers[:maxDNSNameservers]
		warnings = append(warnings, "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "+strings.Join(conf.Servers, " "))
	}
	var cut bool
	conf.Searches, cut = searchFitsLimits(conf.Searches)
	if cut {
		warnings = append(warnings, "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: "+strings.Join(conf.Searches, " "))
	}
	return conf, warnings
}

// searchFitsLimits drops search domains beyond the kubelet's limits: too
// many, too long a domain, too long a line (cut from the end).
func searchFitsLimits(in []string) ([]string, bool) {
	cut := false
	if len(in) > maxDNSSearchPaths {
		in, cut = in[:maxDNSSearchPaths], true
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if len(s) > maxDNSNameLength {
			cut = true
			continue
		}
		out = append(out, s)
	}
	for len(out) > 0 && len(strings.Join(out, " ")) > maxDNSSearchListChars {
		out, cut = out[:len(out)-1], true
	}
	return out, cut
}

func omitDuplicates(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mergeDNSOptions merges the pod's dnsConfig options into base; a pod's
// option replaces one of the same name. Unlike the kubelet (which goes
// through a map), the order is kept: base first, then new names.
func mergeDNSOptions(base []string, opts []v1.PodDNSConfigOption) []string {
	out := slices.Clone(base)
	for _, o := range opts {
		s := o.Name
		if o.Value != nil {
			s += ":" + *o.Value
		}
		i := slices.IndexFunc(out, func(e string) bool { n, _, _ := strings.Cut(e, ":"); return n == o.Name })
		if i >= 0 {
			out[i] = s
		} else {
			out = append(out, s)
		}
	}
	return out
}

// resolvConf renders c as containerd's CRI plugin writes a sandbox's
// resolv.conf: search, nameservers, options.
func (c dnsConfig) resolvConf() string {
	var b strings.Builder
	if len(c.Searches) > 0 {
		b.WriteString("search " + strings.Join(c.Searches, " ") + "\n")
	}
	for _, s := range c.Servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(c.Options) > 0 {
		b.WriteString("options " + strings.Join(c.Options, " ") + "\n")
	}
	return b.String()
}

// podHostname returns the pod's hostname and its domain
// (<subdomain>.<namespace>.svc.<cluster domain> when spec.subdomain is
// set), as the kubelet's GeneratePodHostNameAndDomain: spec.hostname or
// the pod's name, cut to 63 characters without a trailing '-' or '.'.
func podHostname(pod *v1.Pod, clusterDomain string) (hostname, domain string) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > maxHostnameLength {
		hostname = strings.TrimRight(hostname[:maxHostnameLength], "-.")
	}
	if pod.Spec.Subdomain != "" {
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain
}

// containerHostname is the hostname the pod's containers see: the
// hostname, or with spec.setHostnameAsFQDN and a domain the FQDN, which
// may not exceed 64 characters (the kernel's limit).
func containerHostname(pod *v1.Pod, clusterDomain string) (string, error) {
	host, domain := podHostname(pod, clusterDomain)
	if pod.Spec.SetHostnameAsFQDN == nil || !*pod.Spec.SetHostnameAsFQDN || domain == "" {
		return host, nil
	}
	fqdn := host + "." + domain
	if len(fqdn) > maxFQDNLength {
		return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (%d characters is the max, %d characters requested)", fqdn, maxFQDNLength, len(fqdn))
	}
	return fqdn, nil
}

// hostsFile is the kubelet's managed /etc/hosts of a pod with its own
// network: localhost, the pod's address with its FQDN and hostname, then
// the pod's hostAliases.
func hostsFile(pod *v1.Pod, ip, clusterDomain string) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	if ip != "" {
		host, domain := podHostname(pod, clusterDomain)
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", ip, host, domain, host)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, host)
		}
	}
	b.WriteString(hostAliasEntries(pod))
	return b.String()
}

// hostNetworkHostsFile is a host-network pod's /etc/hosts: the node's,
// then the pod's hostAliases.
func hostNetworkHostsFile(pod *v1.Pod, nodeHosts []byte) string {
	return "# Kubernetes-managed hosts file (host network).\n" + string(nodeHosts) + hostAliasEntries(pod)
}

func hostAliasEntries(pod *v1.Pod) string {
	if len(pod.Spec.HostAliases) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, ha := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", ha.IP, strings.Join(ha.Hostnames, "\t"))
	}
	return b.String()
}
