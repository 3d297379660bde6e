package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// planComponents returns the lab's processes in start order: containerd,
// the registry, the control plane, then one agent per node, each started
// in its node's network namespace (never with `ip netns exec`, whose
// private mount namespace would hide pod namespace files from runc).
// labLease is the scheduler's and controller-manager's leader election in
// the lab: one copy of each, so a restarted one should not wait out
// upstream's 15 s lease of the copy that died.
var labLease = []string{
	"--leader-elect-lease-duration", "4s",
	"--leader-elect-renew-deadline", "3s",
	"--leader-elect-retry-period", "1s",
}

func planComponents(p paths, bins map[string]string, nodes []Node) []Component {
	local := fmt.Sprintf("https://127.0.0.1:%d", APIPort)
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cs := []Component{
		{Name: "containerd", Args: []string{bins["containerd"], "--config", p.containerdConfig()}, Env: env, Ready: "unix:" + p.containerdSock()},
		{Name: "registry", Args: []string{bins["docker-registry"], "serve", filepath.Join(p.registry(), "config.yml")}, Env: env, Ready: "http://" + RegistryAddr + "/v2/"},
		{Name: "apiserver", Args: []string{bins["apiserver"],
			"--listen", GatewayAddr + ":" + strconv.Itoa(APIPort),
			"--listen", "127.0.0.1:" + strconv.Itoa(APIPort),
			"--data-dir", p.apiserverData(),
			// The lab made the CA (writePKI); the apiserver makes its
			// serving certificate from it.
			"--cert-dir", p.pki(),
			// Logs, exec, attach and port forwarding reach the agents
			// over TLS, as kube-apiserver-kubelet-client.
			"--kubelet-client-certificate", p.pkiFile("apiserver-kubelet-client.crt"),
			"--kubelet-client-key", p.pkiFile("apiserver-kubelet-client.key"),
			"--service-cidr", ServiceCIDR,
			"--advertise-address", GatewayAddr,
			"--default-not-ready-toleration-seconds", "30",
			"--default-unreachable-toleration-seconds", "30",
			"--allow-privileged=true", // as conformance clusters
		}, Env: env, Ready: local + "/healthz"},
		{Name: "controller-manager", Args: append([]string{bins["controller-manager"],
			"--kubeconfig", p.componentKubeconfig("controller-manager"),
			// Each controller acts as its ServiceAccount, which RBAC
			// grants its system:controller:* role, as kubeadm runs it;
			// CertificateSigningRequests are signed with the lab's CA.
			"--use-service-account-credentials",
			"--cluster-signing-cert-file", p.pkiFile("ca.crt"),
			"--cluster-signing-key-file", p.pkiFile("ca.key"),
			"--lb-pool", LBPool,
			"--node-monitor-grace-period", "20s",
			"--cluster-cidr", ClusterCIDR,
			// Local-path volumes live in the lab's state, under
			// <storage>/<node>/...: the nodes share this filesystem.
			"--local-path-root", p.storage(),
			"--local-path-helper-image", "minik8s/toolbox:latest",
		}, labLease...), Env: env},
		{Name: "scheduler", Args: append([]string{bins["scheduler"], "--kubeconfig", p.componentKubeconfig("scheduler")}, labLease...), Env: env},
	}
	cs = withAPIServerArgs(cs, apiserverSecurityArgs(p)...)
	for _, n := range nodes {
		cs = append(cs, Component{Name: n.Component(), Node: n.Index, Netns: n.NetnsPath(), Env: env, Args: []string{
			bins["kubelet-lite"],
			// Joining with the lab's bootstrap token: the agent asks
			// for its certificate and writes its own kubeconfig, then
			// renews the certificate before it expires.
			"--bootstrap-kubeconfig", p.bootstrapKubeconfig(n),
			"--kubeconfig", p.nodeKubeconfig(n),
			"--rotate-certificates",
			// The agent's API over TLS, answering only clients of the
			// lab's CA (or tokens) that RBAC lets reach nodes/proxy.
			"--client-ca-file", p.pkiFile("ca.crt"),
			"--node-name", n.Name(),
			"--node-ip", n.IP(),
			"--pod-cidr", n.PodCIDR(),
			"--cluster-cidr", ClusterCIDR,
			"--cluster-dns", ClusterDNS,
			"--cluster-domain", ClusterDomain,
			"--containerd-address", p.containerdSock(),
			"--containerd-namespace", n.Name(),
			"--container-logger", bins["container-logger"],
			"--state-dir", p.nodeDir(n),
			"--netns-dir", filepath.Join(runDir, "netns"),
			"--cni-bin-dir", cniBinDir,
			"--registry-mirror", "docker.io=http://" + RegistryAddr,
			"--insecure-registry", RegistryAddr,
			"--lease-duration", "8s",
			"--allowed-peer", GatewayAddr,
		}})
	}
	return cs
}

// containerdConfig is the lab's containerd: its own root, state and
// sockets, runc from Debian, no CRI plugin (the agents speak containerd's
// own API).
func containerdConfig(p paths) string {
	d := p.containerd()
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q

[plugins."io.containerd.runtime.v1.linux"]
  runtime = %q
`, filepath.Join(d, "root"), filepath.Join(d, "state"), p.containerdSock(), p.containerdSock()+".ttrpc", filepath.Join(d, "opt"), runcPath)
}

// registryConfig is Debian's docker-registry on the lab bridge only.
func registryConfig(p paths) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, p.registryStorage(), RegistryAddr)
}

// writeConfigs creates the state directory tree and the daemons' configs.
func writeConfigs(p paths, nodes []Node) error {
	dirs := []string{p.logs(), p.pids(), p.containerd(), p.registryStorage(), p.apiserverData(), filepath.Join(runDir, "netns")}
	for _, n := range nodes {
		dirs = append(dirs, p.nodeDir(n))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := os.WriteFile(p.containerdConfig(), []byte(containerdConfig(p)), 0o644); err != nil {
		return err
	}
	if err := writePKI(p, nodes); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.registry(), "config.yml"), []byte(registryConfig(p)), 0o644); err != nil {
		return err
	}
	return writeEncryptionConfig(p)
}
