package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"minik8s/pkg/restconfig"
)

// Config holds what `lab up` takes from its flags.
type Config struct {
	Nodes int
	// Dir is the lab's state directory (default ~/.minik8s/lab).
	Dir string
	// BinDir, when set, is where the minik8s binaries are; by default they
	// are looked up beside the ctl executable, then on PATH.
	BinDir string
	// Timeout bounds the whole `up`.
	TimeoutSeconds int
}

// NewConfig returns the defaults: 3 nodes under ~/.minik8s/lab.
func NewConfig() *Config {
	return &Config{Nodes: 3, Dir: DefaultDir(), TimeoutSeconds: 180}
}

// DefaultDir is the directory of the lab's kubeconfig: ~/.minik8s/lab.
func DefaultDir() string { return filepath.Dir(restconfig.LabKubeconfig()) }

// AddFlags binds the flags of `lab up`.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&c.Nodes, "nodes", c.Nodes, "number of nodes (network namespaces, each with its own kubelet-lite)")
	fs.StringVar(&c.BinDir, "bin-dir", c.BinDir, "directory of the minik8s binaries (default: beside ctl, then $PATH)")
	fs.IntVar(&c.TimeoutSeconds, "timeout", c.TimeoutSeconds, "seconds to wait for the lab to be ready")
}

// Validate checks the flags.
func (c *Config) Validate() error {
	if err := validNodeCount(c.Nodes); err != nil {
		return err
	}
	if c.Dir == "" || !filepath.IsAbs(c.Dir) {
		return fmt.Errorf("state directory %q must be an absolute path", c.Dir)
	}
	return nil
}

// paths names the files of a lab state directory.
type paths struct{ dir string }

func (p paths) state() string               { return filepath.Join(p.dir, "state.json") }
func (p paths) lock() string                { return filepath.Join(p.dir, "supervisor.lock") }
func (p paths) supervisorPid() string       { return filepath.Join(p.dir, "supervisor.pid") }
func (p paths) logs() string                { return filepath.Join(p.dir, "logs") }
func (p paths) log(component string) string { return filepath.Join(p.dir, "logs", component+".log") }
func (p paths) pids() string                { return filepath.Join(p.dir, "run") }
func (p paths) pid(component string) string { return filepath.Join(p.dir, "run", component+".pid") }
func (p paths) stopped(component string) string {
	return filepath.Join(p.dir, "run", component+".stopped")
}
func (p paths) containerd() string         { return filepath.Join(p.dir, "containerd") }
func (p paths) containerdSock() string     { return filepath.Join(p.dir, "containerd", "containerd.sock") }
func (p paths) containerdConfig() string   { return filepath.Join(p.dir, "containerd", "config.toml") }
func (p paths) registry() string           { return filepath.Join(p.dir, "registry") }
func (p paths) registryStorage() string    { return filepath.Join(p.dir, "registry", "storage") }
func (p paths) apiserverData() string      { return filepath.Join(p.dir, "apiserver") }
func (p paths) nodeDir(n Node) string      { return filepath.Join(p.dir, "nodes", n.Name()) }
func (p paths) kubeconfig() string         { return filepath.Join(p.dir, "kubeconfig") }
func (p paths) pki() string                { return filepath.Join(p.dir, "pki") }
func (p paths) pkiFile(name string) string { return filepath.Join(p.dir, "pki", name) }

// componentKubeconfig is the kubeconfig of a control-plane component or an
// agent ("controller-manager", "scheduler", "kubelet-node-1").
func (p paths) componentKubeconfig(name string) string {
	return filepath.Join(p.dir, "pki", name+".kubeconfig")
}
func (p paths) storage() string { return filepath.Join(p.dir, "storage") }

// bootstrapToken holds the token the agents join with; bootstrapKubeconfig
// is an agent's kubeconfig holding it, and nodeKubeconfig the one the
// agent writes with its own certificate.
func (p paths) bootstrapToken() string { return filepath.Join(p.dir, "pki", "bootstrap-token") }
func (p paths) bootstrapKubeconfig(n Node) string {
	return filepath.Join(p.dir, "pki", n.Component()+"-bootstrap.kubeconfig")
}
func (p paths) nodeKubeconfig(n Node) string { return filepath.Join(p.nodeDir(n), "kubeconfig") }

// runDir holds the pods' network namespace files of the lab's agents; it
// must be a plain directory of the root mount namespace, seen by runc.
const runDir = "/run/minik8s/lab"

// State is what `up` records for the supervisor and the other verbs.
type State struct {
	Nodes      int         `json:"nodes"`
	Dir        string      `json:"dir"`
	Components []Component `json:"components"`
}

// Component is one process the supervisor keeps running.
type Component struct {
	Name string   `json:"name"`
	Args []string `json:"args"`
	Env  []string `json:"env,omitempty"`
	// Ready is "unix:PATH" (a socket that accepts), "http://…" or
	// "https://…" (answers 200) or empty (running is enough).
	Ready string `json:"ready,omitempty"`
	// Node is the node index of an agent, 0 for the control plane.
	Node int `json:"node,omitempty"`
	// Netns is the network namespace file the process starts in (an
	// agent's node's); empty: the machine's.
	Netns string `json:"netns,omitempty"`
}

func writeState(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := paths{s.Dir}.state() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, paths{s.Dir}.state())
}

// ErrNoLab says that no lab state exists.
var ErrNoLab = errors.New("no lab on this machine: start one with `ctl lab up`")

func readState(dir string) (*State, error) {
	b, err := os.ReadFile(paths{dir}.state())
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoLab
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", paths{dir}.state(), err)
	}
	return &s, nil
}

// component returns the named component.
func (s *State) component(name string) (Component, bool) {
	for _, c := range s.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

func (s *State) componentNames() []string {
	names := make([]string, len(s.Components))
	for i, c := range s.Components {
		names[i] = c.Name
	}
	return names
}

// Binaries the lab runs: the project's own and the system's.
var (
	projectBinaries = []string{"apiserver", "controller-manager", "scheduler", "kubelet-lite", "container-logger", "echo", "toolbox", "coredns"}
	systemBinaries  = map[string]string{
		"containerd":      "containerd",
		"runc":            "runc",
		"nft":             "nftables",
		"iptables":        "iptables",
		"ip":              "iproute2",
		"docker-registry": "docker-registry",
	}
	cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}
)

const (
	runcPath   = "/usr/sbin/runc"
	cniBinDir  = "/usr/lib/cni"
	busyboxBin = "/bin/busybox"
	// toolboxBusybox is the busybox of the toolbox image: Debian's
	// dynamically linked build (package busybox), unpacked there by
	// deploy/install-deps.sh beside the hosts' busybox-static, which
	// conflicts with the package. busybox-static's shell runs its own
	// applets before any program on PATH, so /bin/wget in the image
	// (cmd/toolbox) would lose to its wget, which crashes on -T.
	toolboxBusybox = "/usr/local/lib/minik8s/busybox"
)

// findBinaries locates every program the lab needs and names the fix for
// what is missing.
func findBinaries(binDir string) (map[string]string, error) {
	found := map[string]string{}
	var missingPkgs, missingOurs []string
	for bin, pkg := range systemBinaries {
		p, err := exec.LookPath(bin)
		if bin == "runc" {
			p, err = runcPath, statExec(runcPath)
		}
		if err != nil {
			missingPkgs = append(missingPkgs, fmt.Sprintf("%s (package %s)", bin, pkg))
			continue
		}
		found[bin] = p
	}
	for _, plugin := range cniPlugins {
		if statExec(filepath.Join(cniBinDir, plugin)) != nil {
			missingPkgs = append(missingPkgs, fmt.Sprintf("%s/%s (package containernetworking-plugins)", cniBinDir, plugin))
		}
	}
	if statExec(busyboxBin) != nil {
		missingPkgs = append(missingPkgs, busyboxBin+" (package busybox-static)")
	}
	if statExec(toolboxBusybox) != nil {
		missingPkgs = append(missingPkgs, toolboxBusybox+" (Debian's package busybox, unpacked there by deploy/install-deps.sh)")
	}
	dirs := []string{binDir}
	if binDir == "" {
		dirs = nil
		if exe, err := os.Executable(); err == nil {
			dirs = append(dirs, filepath.Dir(exe))
		}
	}
	for _, bin := range projectBinaries {
		p := ""
		for _, d := range dirs {
			if statExec(filepath.Join(d, bin)) == nil {
				p = filepath.Join(d, bin)
				break
			}
		}
		if p == "" && binDir == "" {
			p, _ = exec.LookPath(bin)
		}
		if p == "" {
			missingOurs = append(missingOurs, bin)
			continue
		}
		found[bin] = p
	}
	var errs []string
	if len(missingPkgs) > 0 {
		sort.Strings(missingPkgs)
		errs = append(errs, fmt.Sprintf("missing %s: install them with `deploy/install-deps.sh`, run as root", strings.Join(missingPkgs, ", ")))
	}
	if len(missingOurs) > 0 {
		where := "beside ctl or on $PATH"
		if binDir != "" {
			where = "in " + binDir
		}
		build := "`CGO_ENABLED=0 go build -o bin/ ./cmd/...`"
		if slices.Contains(missingOurs, "coredns") {
			// CoreDNS is a module of its own, which ./cmd/... leaves out.
			build += " and `(cd cmd/coredns && CGO_ENABLED=0 go build -o ../../bin/ .)`"
		}
		errs = append(errs, fmt.Sprintf("minik8s binaries %s not found %s: build them with %s and run bin/ctl", strings.Join(missingOurs, ", "), where, build))
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return found, nil
}

func statExec(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not executable", p)
	}
	return nil
}
