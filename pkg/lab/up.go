package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// progress prints one line per step with its duration, like kind.
type progress struct {
	out   io.Writer
	start time.Time
}

func (p *progress) step(name string, fn func() error) error {
	t := time.Now()
	if err := fn(); err != nil {
		fmt.Fprintf(p.out, " ✗ %s (%s)\n", name, time.Since(t).Round(time.Millisecond))
		return err
	}
	fmt.Fprintf(p.out, " ✓ %s (%s)\n", name, time.Since(t).Round(time.Millisecond))
	return nil
}

// Up brings the lab up, or reports the one that runs.
func Up(ctx context.Context, cfg *Config, out io.Writer) error {
	if os.Geteuid() != 0 {
		return errNotRoot("up")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	p := paths{cfg.Dir}
	if supervisorRunning(p) {
		st, err := readState(cfg.Dir)
		if err != nil {
			return fmt.Errorf("a lab supervisor runs but its state is unreadable (%w): remove the lab with `ctl lab down`", err)
		}
		fmt.Fprintf(out, "a lab of %d nodes is already running\n", st.Nodes)
		if st.Nodes != cfg.Nodes {
			fmt.Fprintf(out, "(you asked for %d nodes: to change its size, run `ctl lab down` then `ctl lab up --nodes %d`)\n", cfg.Nodes, cfg.Nodes)
		}
		return Status(ctx, cfg.Dir, out)
	}
	bins, err := findBinaries(cfg.BinDir)
	if err != nil {
		return err
	}
	// The lab finds, and `lab down` kills, what it started by cgroup.
	if _, err := hostCgroups(); err != nil {
		return fmt.Errorf("the lab tracks its processes and containers by cgroup and cannot run here: %w", err)
	}
	// Before anything comes up: a broken image binary would only show as
	// pods that crash-loop once the lab is running.
	images := imageBinaries{echo: bins["echo"], busybox: toolboxBusybox, toolbox: bins["toolbox"]}
	if err := errors.Join(checkImageBinaries(images), checkImageBinary(bins["coredns"], corednsFix)); err != nil {
		return err
	}
	pr := &progress{out: out, start: time.Now()}
	if left := leftovers(cfg.Dir); len(left) > 0 {
		if _, err := os.Stat(p.state()); err != nil {
			return fmt.Errorf("found %s but no lab state in %s: a lab that crashed or another tool left them; remove them with `ctl lab down` (it removes only the lab's names: mk8s0, mk8s-node*, table inet %s)", strings.Join(left, ", "), cfg.Dir, NftTable)
		}
		if err := pr.step("Removing the leftovers of a lab that is no longer running", func() error {
			_, errs := teardown(cfg.Dir, true)
			return errors.Join(errs...)
		}); err != nil {
			return fmt.Errorf("cleaning a stale lab: %w; try `ctl lab down`", err)
		}
	}
	if err := checkRootForwarding(); err != nil {
		return err
	}
	if err := checkPorts(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(cfg.TimeoutSeconds)*time.Second)
	defer cancel()

	nodes := Nodes(cfg.Nodes)
	st := &State{Nodes: cfg.Nodes, Dir: cfg.Dir, Components: planComponents(p, bins, nodes)}
	fmt.Fprintf(out, "Creating a minik8s lab of %d nodes in %s\n", cfg.Nodes, cfg.Dir)
	// The state goes first: from here on, a crash leaves something `down`
	// knows how to remove.
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return err
	}
	if err := writeConfigs(p, nodes); err != nil {
		return err
	}
	if err := writeState(st); err != nil {
		return err
	}
	halfMade := func(err error) error {
		return fmt.Errorf("%w\nthe lab is partly up: see `ctl lab status` and the logs in %s; remove it with `ctl lab down`", err, p.logs())
	}
	err = pr.step("Preparing the network (bridge mk8s0, safety routes and filters)", func() error {
		if err := installSafety(cfg.Nodes); err != nil {
			return err
		}
		return createBridge()
	})
	if err != nil {
		teardown(cfg.Dir, true)
		return fmt.Errorf("%w (the partial lab was removed)", err)
	}
	err = pr.step(fmt.Sprintf("Preparing nodes (%d network namespaces)", cfg.Nodes), func() error {
		for _, n := range nodes {
			if err := createNode(n, nodes); err != nil {
				return err
			}
			if err := installAPIServerMasquerade(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		teardown(cfg.Dir, true)
		return fmt.Errorf("%w (the partial lab was removed)", err)
	}
	if err := pr.step("Starting the supervisor", func() error { return startSupervisor(p) }); err != nil {
		return halfMade(err)
	}
	for _, name := range []string{"containerd", "registry"} {
		c, _ := st.component(name)
		if err := pr.step("Starting "+name, func() error { return waitComponent(ctx, p, c) }); err != nil {
			return halfMade(err)
		}
	}
	if err := pr.step("Images minik8s/echo, minik8s/toolbox, minik8s/coredns in the registry", func() error {
		if _, err := ensureImagesCached(ctx, RegistryAddr, images, filepath.Join(p.registry(), "pushed.json")); err != nil {
			return err
		}
		return ensureCoreDNSImage(ctx, RegistryAddr, bins["coredns"], filepath.Join(p.registry(), "coredns-pushed.json"))
	}); err != nil {
		return halfMade(err)
	}
	c, _ := st.component("apiserver")
	if err := pr.step("Starting the control plane (apiserver, controller-manager, scheduler)", func() error {
		if err := waitComponent(ctx, p, c); err != nil {
			return err
		}
		// The agents wait for their token (they try again until it is
		// there); store it as soon as the apiserver answers.
		cs, err := labClient(p)
		if err != nil {
			return err
		}
		if err := storeBootstrapToken(ctx, p, cs); err != nil {
			return err
		}
		for _, name := range []string{"controller-manager", "scheduler"} {
			c, _ := st.component(name)
			if err := waitComponent(ctx, p, c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return halfMade(err)
	}
	if err := pr.step(fmt.Sprintf("Waiting for %d nodes to be Ready", cfg.Nodes), func() error {
		return waitNodesReady(ctx, p, nodes)
	}); err != nil {
		return halfMade(err)
	}
	if err := pr.step(fmt.Sprintf("Cluster DNS add-on (CoreDNS, Service kube-dns %s)", ClusterDNS), func() error {
		cs, err := labClient(p)
		if err != nil {
			return err
		}
		return installDNS(ctx, cs, nil)
	}); err != nil {
		return halfMade(err)
	}
	summary(out, p, nodes, time.Since(pr.start))
	return nil
}

func summary(out io.Writer, p paths, nodes []Node, took time.Duration) {
	fmt.Fprintf(out, "\nLab ready: %d nodes in %s\n", len(nodes), took.Round(100*time.Millisecond))
	for _, n := range nodes {
		fmt.Fprintf(out, "  %-8s %-12s netns %-12s pods %s\n", n.Name(), n.IP(), n.Netns(), n.PodCIDR())
	}
	fmt.Fprintf(out, "  API        https://127.0.0.1:%d (nodes use https://%s:%d; CA and client certificates in %s)\n", APIPort, GatewayAddr, APIPort, p.pki())
	fmt.Fprintf(out, "  registry   %s (image: minik8s/echo:latest, minik8s/toolbox:latest, minik8s/coredns; `ctl image load FILE.tar` adds more)\n", RegistryAddr)
	fmt.Fprintf(out, "  DNS        CoreDNS at %s (kube-system/kube-dns), %s; names outside it do not resolve\n", ClusterDNS, ClusterDomain)
	fmt.Fprintf(out, "  LoadBalancer IPs come from %s and answer from this machine: curl http://<EXTERNAL-IP>/\n", LBPool)
	fmt.Fprintf(out, "  logs       %s (`ctl lab logs COMPONENT`); remove everything with `ctl lab down`\n", p.logs())
	fmt.Fprintf(out, "\nctl uses the lab by default; for kubectl:\n  export KUBECONFIG=%s\n", p.kubeconfig())
}

// startSupervisor re-executes ctl as `ctl lab supervise`, detached in its
// own session, and waits until it holds the lock.
func startSupervisor(p paths) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(p.log("supervisor"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	closeInheritedOnExec()
	cmd := exec.Command(exe, "lab", "supervise", "--state-dir", p.dir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logFile, logFile
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the supervisor (%s lab supervise): %w", exe, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(10 * time.Second)
	for {
		if supervisorRunning(p) {
			cmd.Process.Release()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the supervisor exited at once (%v): see %s", err, p.log("supervisor"))
		case <-deadline:
			return fmt.Errorf("the supervisor did not take its lock in 10s: see %s", p.log("supervisor"))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// closeInheritedOnExec marks every descriptor above stderr close-on-exec.
// Go opens its own so, but one ctl inherited stays open across exec: run
// as `flock LOCKFILE ctl lab up`, the supervisor, and every component it
// starts, would hold the caller's lock for as long as the lab runs, and
// the next `flock LOCKFILE ctl lab down` would wait for ever.
func closeInheritedOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// waitComponent waits until the component answers its Ready probe (or,
// without one, runs), and fails early with its log's tail when it keeps
// dying.
func waitComponent(ctx context.Context, p paths, c Component) error {
	for {
		if c.Ready != "" {
			if probe(c.Ready) {
				return nil
			}
		} else if componentPid(p, c.Name) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is not ready: %w; its log %s ends with:\n%s", c.Name, ctx.Err(), p.log(c.Name), tail(p.log(c.Name), 8))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a file, indented.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "    (no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// labClient reaches the lab as its admin, through the kubeconfig up
// wrote.
func labClient(p paths) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", p.kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("the lab's kubeconfig: %w", err)
	}
	cfg.Timeout, cfg.QPS, cfg.Burst = 5*time.Second, 50, 100
	return kubernetes.NewForConfig(cfg)
}

// nodeReady reports the Ready condition of a Node.
func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitNodesReady(ctx context.Context, p paths, nodes []Node) error {
	cs, err := labClient(p)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range nodes {
		want[n.Name()] = true
	}
	var notReady []string
	agentPid, agentSince := map[string]int{}, map[string]time.Time{}
	for {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err == nil {
			ready := map[string]bool{}
			for i := range list.Items {
				if nodeReady(&list.Items[i]) {
					ready[list.Items[i].Name] = true
				}
			}
			notReady = notReady[:0]
			for _, n := range nodes {
				// A Ready condition can outlive an agent that posted it and
				// died: also ask for the same agent process for a second.
				pid := componentPid(p, n.Component())
				if pid != agentPid[n.Name()] {
					agentPid[n.Name()], agentSince[n.Name()] = pid, time.Now()
				}
				if !ready[n.Name()] || pid == 0 || time.Since(agentSince[n.Name()]) < time.Second {
					notReady = append(notReady, n.Name())
				}
			}
			if len(notReady) == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			var b strings.Builder
			for _, name := range notReady {
				fmt.Fprintf(&b, "\n  %s: log %s ends with:\n%s", name, p.log("kubelet-"+name), tail(p.log("kubelet-"+name), 5))
			}
			return fmt.Errorf("nodes %v not Ready: %w%s", notReady, ctx.Err(), b.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
