package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gocni "github.com/containerd/go-cni"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"minik8s/pkg/netns"
)

const cniNetworkName = "minik8s"

// network makes pod sandboxes: a network namespace file per pod and CNI.
type network struct {
	cfg     *Config
	podsDir string
	nsDir   string

	mu  sync.Mutex
	cni gocni.CNI // bridge only: pods without host ports
	// cniPorts chains portmap after the bridge, for pods with host ports;
	// one plugin execution fewer for every other pod.
	cniPorts gocni.CNI
}

// sandboxRecord is what teardown needs, kept in the pod's directory.
type sandboxRecord struct {
	Sandbox
	Host     bool                `json:"host,omitempty"`
	PortMaps []gocni.PortMapping `json:"portMappings,omitempty"`
}

func newNetwork(cfg *Config, podsDir string) *network {
	return &network{cfg: cfg, podsDir: podsDir, nsDir: filepath.Join(cfg.NetnsDir, cfg.NodeName)}
}

// conflist is the CNI configuration, built in memory; portmap chains the
// portmap plugin after the bridge.
func conflist(podCIDR, dataDir string, portmap bool) []byte {
	plugins := []any{
		map[string]any{
			"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": dataDir,
			},
		},
	}
	if portmap {
		plugins = append(plugins, map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true})
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       cniNetworkName,
		"plugins":    plugins,
	}
	b, _ := json.Marshal(conf)
	return b
}

// init prepares the namespace directory, the node's own namespace file
// (for hostNetwork pods), forwarding, and CNI for podCIDR.
func (n *network) init(ctx context.Context, podCIDR string, realHost bool) error {
	if err := os.MkdirAll(n.nsDir, 0o755); err != nil {
		return fmt.Errorf("creating netns dir: %w", err)
	}
	hostNS := filepath.Join(n.nsDir, "host")
	_ = unix.Unmount(hostNS, unix.MNT_DETACH)
	if err := bindNetNS(hostNS, fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())); err != nil {
		return fmt.Errorf("binding the node's network namespace to %s: %w", hostNS, err)
	}
	if err := enableForwarding(ctx, realHost); err != nil {
		return err
	}
	// The loopback interface is brought up by newNetNS itself, not by the
	// loopback plugin: one plugin execution fewer per pod.
	var cs [2]gocni.CNI
	for i, portmap := range []bool{false, true} {
		c, err := gocni.New(
			gocni.WithPluginDir([]string{n.cfg.CNIBinDir}),
			gocni.WithInterfacePrefix("eth"),
			gocni.WithMinNetworkCount(1),
			gocni.WithConfListBytes(conflist(podCIDR, filepath.Join(n.cfg.StateDir, "cni", "networks"), portmap)),
		)
		if err != nil {
			return fmt.Errorf("configuring CNI: %w", err)
		}
		cs[i] = c
	}
	n.mu.Lock()
	n.cni, n.cniPorts = cs[0], cs[1]
	n.mu.Unlock()
	return nil
}

// plugins is the CNI chain for a pod with (or without) host ports.
func (n *network) plugins(withPorts bool) gocni.CNI {
	n.mu.Lock()
	defer n.mu.Unlock()
	if withPorts {
		return n.cniPorts
	}
	return n.cni
}

// enableForwarding sets net.ipv4.ip_forward=1 in the agent's network
// namespace, which must be a node's, never the machine's root namespace
// unless the agent runs on a real host on purpose.
func enableForwarding(ctx context.Context, realHost bool) error {
	if !realHost {
		root, err := inRootNetns()
		if err != nil {
			return fmt.Errorf("checking the agent's network namespace: %w", err)
		}
		if root {
			klog.FromContext(ctx).Info("WARNING: the agent runs in the root network namespace; not enabling net.ipv4.ip_forward (pass --real-host on a real node); pods will not be reachable from other nodes")
			return nil
		}
	}
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	if err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enabling net.ipv4.ip_forward: %w", err)
	}
	return nil
}

// inRootNetns reports whether the agent shares the network namespace of
// pid 1. Where /proc/1 cannot be read (some sandboxes), only a namespace
// named under /run/netns (as `ip netns add` and the lab make them) counts as
// not the root one.
func inRootNetns() (bool, error) {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &self); err != nil {
		return false, err
	}
	var root unix.Stat_t
	if err := unix.Stat("/proc/1/ns/net", &root); err == nil {
		return self.Ino == root.Ino && self.Dev == root.Dev, nil
	}
	named, _ := filepath.Glob("/run/netns/*")
	for _, p := range named {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil && st.Ino == self.Ino && st.Dev == self.Dev {
			return false, nil
		}
	}
	return true, nil
}

// bindNetNS bind-mounts the namespace at src onto path.
func bindNetNS(path, src string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// newNetNS creates a network namespace with its loopback interface up and
// bind-mounts it at path.
func newNetNS(path string) error {
	if err := netns.New(path); err != nil {
		return err
	}
	if err := netns.Do(path, netns.LoopbackUp); err != nil {
		_ = netns.Remove(path)
		return fmt.Errorf("bringing lo up: %w", err)
	}
	return nil
}

func (n *network) recordPath(uid types.UID) string {
	return filepath.Join(n.podsDir, string(uid), "sandbox.json")
}

func portMappings(pod *v1.Pod) []gocni.PortMapping {
	var out []gocni.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			proto := strings.ToLower(string(p.Protocol))
			if proto == "" {
				proto = "tcp"
			}
			out = append(out, gocni.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto, HostIP: p.HostIP})
		}
	}
	return out
}

func (n *network) setup(ctx context.Context, pod *v1.Pod) (Sandbox, error) {
	dir := filepath.Join(n.podsDir, string(pod.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Sandbox{}, err
	}
	if b, err := os.ReadFile(n.recordPath(pod.UID)); err == nil {
		var rec sandboxRecord
		if json.Unmarshal(b, &rec) == nil {
			if _, err := os.Stat(rec.NetNS); err == nil {
				return rec.Sandbox, nil
			}
		}
	}
	if err := n.writeFiles(pod, dir); err != nil {
		return Sandbox{}, err
	}
	rec := sandboxRecord{}
	if pod.Spec.HostNetwork {
		rec.Host = true
		rec.NetNS = filepath.Join(n.nsDir, "host")
		ip, err := defaultRouteIP()
		if err == nil {
			rec.IP = ip
		}
		if n.cfg.NodeIP != "" {
			rec.IP = n.cfg.NodeIP
		}
	} else {
		rec.PortMaps = portMappings(pod)
		c := n.plugins(len(rec.PortMaps) > 0)
		if c == nil {
			return Sandbox{}, errors.New("network is not ready: no pod CIDR yet")
		}
		path := filepath.Join(n.nsDir, string(pod.UID))
		if _, err := os.Stat(path); err == nil {
			// A set-up cut off before its record was written (the agent
			// was killed): CNI DEL gives back its address and veth, or
			// host-local refuses the ADD below as a duplicate allocation.
			_ = c.Remove(ctx, string(pod.UID), path, n.nsOpts(pod, rec.PortMaps)...)
		}
		_ = netns.Remove(path)
		t0 := time.Now()
		if err := newNetNS(path); err != nil {
			return Sandbox{}, fmt.Errorf("creating network namespace: %w", err)
		}
		observeStep("netns", t0)
		rec.NetNS = path
		t0 = time.Now()
		res, err := c.Setup(ctx, string(pod.UID), path, n.nsOpts(pod, rec.PortMaps)...)
		observeStep("cni_add", t0)
		if err != nil {
			_ = c.Remove(ctx, string(pod.UID), path, n.nsOpts(pod, rec.PortMaps)...)
			_ = netns.Remove(path)
			return Sandbox{}, fmt.Errorf("CNI ADD: %w", err)
		}
		if iface := res.Interfaces["eth0"]; iface != nil && len(iface.IPConfigs) > 0 {
			rec.IP = iface.IPConfigs[0].IP.String()
		}
		if rec.IP == "" {
			_ = c.Remove(ctx, string(pod.UID), path, n.nsOpts(pod, rec.PortMaps)...)
			_ = netns.Remove(path)
			return Sandbox{}, errors.New("CNI ADD gave no address for eth0")
		}
	}
	if err := n.writeHosts(pod, dir, rec.IP); err != nil {
		return Sandbox{}, err
	}
	b, _ := json.Marshal(rec)
	if err := os.WriteFile(n.recordPath(pod.UID), b, 0o644); err != nil {
		return Sandbox{}, err
	}
	return rec.Sandbox, nil
}

func (n *network) nsOpts(pod *v1.Pod, pm []gocni.PortMapping) []gocni.NamespaceOpts {
	opts := []gocni.NamespaceOpts{}
	if pod != nil {
		opts = append(opts, gocni.WithLabels(map[string]string{
			"K8S_POD_NAMESPACE": pod.Namespace, "K8S_POD_NAME": pod.Name, "K8S_POD_INFRA_CONTAINER_ID": string(pod.UID), "K8S_POD_UID": string(pod.UID),
			"IgnoreUnknown": "1",
		}))
	}
	if len(pm) > 0 {
		opts = append(opts, gocni.WithCapabilityPortMap(pm))
	}
	return opts
}

func (n *network) teardown(ctx context.Context, uid types.UID) error {
	var rec sandboxRecord
	b, err := os.ReadFile(n.recordPath(uid))
	if err == nil {
		_ = json.Unmarshal(b, &rec)
	}
	path := filepath.Join(n.nsDir, string(uid))
	if rec.Host {
		_ = os.Remove(n.recordPath(uid))
		return nil
	}
	if c := n.plugins(len(rec.PortMaps) > 0); c != nil {
		nsPath := path
		if _, err := os.Stat(path); err != nil {
			nsPath = ""
		}
		if err := c.Remove(ctx, string(uid), nsPath, n.nsOpts(nil, rec.PortMaps)...); err != nil {
			return fmt.Errorf("CNI DEL: %w", err)
		}
	}
	if err := netns.Remove(path); err != nil {
		return err
	}
	_ = os.Remove(n.recordPath(uid))
	return nil
}

// cleanupOrphanNetns removes namespace files of pods not in known.
func (n *network) cleanupOrphanNetns(ctx context.Context, known map[types.UID]bool) {
	entries, _ := os.ReadDir(n.nsDir)
	for _, e := range entries {
		if e.Name() == "host" || known[types.UID(e.Name())] {
			continue
		}
		if err := n.teardown(ctx, types.UID(e.Name())); err != nil {
			klog.FromContext(ctx).Error(err, "removing orphan network namespace", "uid", e.Name())
		}
	}
}

func (n *network) writeFiles(pod *v1.Pod, dir string) error {
	hostname, err := containerHostname(pod, n.cfg.ClusterDomain)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "hostname"), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	conf, warnings := podDNS(pod, n.cfg.ClusterDNS, n.cfg.ClusterDomain, host)
	for _, w := range warnings {
		klog.Background().Info("DNSConfigForming: "+w, "pod", klog.KObj(pod))
	}
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf.resolvConf()), 0o644)
}

func (n *network) writeHosts(pod *v1.Pod, dir, ip string) error {
	content := hostsFile(pod, ip, n.cfg.ClusterDomain)
	if pod.Spec.HostNetwork {
		nodeHosts, _ := os.ReadFile("/etc/hosts")
		content = hostNetworkHostsFile(pod, nodeHosts)
	}
	return os.WriteFile(filepath.Join(dir, "hosts"), []byte(content), 0o644)
}

// podMounts are /etc/hosts, /etc/resolv.conf and /etc/hostname of the pod.
func (n *network) podMounts(pod *v1.Pod) ([]specs.Mount, error) {
	dir := filepath.Join(n.podsDir, string(pod.UID))
	var out []specs.Mount
	for _, f := range []string{"hosts", "resolv.conf", "hostname"} {
		src := filepath.Join(dir, f)
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("pod file %s: %w", f, err)
		}
		out = append(out, specs.Mount{Destination: "/etc/" + f, Type: "bind", Source: src, Options: []string{"rbind", "rw"}})
	}
	return out, nil
}
