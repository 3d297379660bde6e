// Command lab measures the lab's figures on this machine (root): warm
// `ctl lab up --nodes 3` until every node is Ready, idle RSS of the control
// plane, pod start-up latency (paced with a warm image, paced with a cold
// image, burst) and `ctl lab down`.
//
//	CGO_ENABLED=0 go build -o bin/ ./cmd/... && go run ./bench/lab    # as root
//
// With -reuse it only runs the pod start-up measurements (and the agents'
// RSS with the pods running) on the lab already up, to compare agent builds
// quickly; -rate 0 runs only the burst. Each run also prints the mean of
// every start-up step from the agents' /metrics and the CPU time each part
// of the lab used: a burst is bound by CPU, so that says where it goes.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"minik8s/pkg/restconfig"

	"minik8s/bench/internal/stats"
	"minik8s/pkg/cgroup"
	"minik8s/pkg/lab"
)

func main() {
	ctl := flag.String("ctl", "bin/ctl", "path of the ctl binary (the other binaries sit beside it)")
	nodes := flag.Int("nodes", 3, "lab size")
	pods := flag.Int("pods", 30, "pods per latency run (0 skips the pod start-up runs)")
	rate := flag.Float64("rate", 5, "pods per second in the paced run (0 skips it)")
	idle := flag.Duration("idle", 20*time.Second, "idle time before reading RSS")
	keep := flag.Bool("keep", false, "leave the lab running at the end")
	reuse := flag.Bool("reuse", false, "measure pod start-up on the lab already running (no up, no down, no RSS of the control plane)")
	flag.Parse()
	var err error
	if *reuse {
		err = podRuns(*nodes, *pods, *rate)
	} else {
		err = run(*ctl, *nodes, *pods, *rate, *idle, *keep)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/lab:", err)
		os.Exit(1)
	}
}

func sh(ctl string, args ...string) (time.Duration, string, error) {
	start := time.Now()
	out, err := exec.Command(ctl, args...).CombinedOutput()
	return time.Since(start), string(out), err
}

func run(ctl string, nodes, pods int, rate float64, idle time.Duration, keep bool) error {
	n := strconv.Itoa(nodes)
	// Warm-up: a lab with images in the registry, then down keeping them.
	sh(ctl, "lab", "down")
	if d, out, err := sh(ctl, "lab", "up", "--nodes", n); err != nil {
		return fmt.Errorf("cold lab up: %v\n%s", err, out)
	} else {
		fmt.Printf("cold  ctl lab up --nodes %s: %s (pushes the images)\n", n, d.Round(10*time.Millisecond))
	}
	if _, out, err := sh(ctl, "lab", "down", "--keep-images"); err != nil {
		return fmt.Errorf("lab down: %v\n%s", err, out)
	}
	d, out, err := sh(ctl, "lab", "up", "--nodes", n)
	if err != nil {
		return fmt.Errorf("warm lab up: %v\n%s", err, out)
	}
	fmt.Printf("warm  ctl lab up --nodes %s to all nodes Ready: %s (goal ≤ 15 s)\n", n, d.Round(10*time.Millisecond))
	if !keep {
		defer func() {
			d, out, err := sh(ctl, "lab", "down")
			if err != nil {
				fmt.Printf("lab down: %v\n%s", err, out)
				return
			}
			fmt.Printf("ctl lab down: %s\n", d.Round(10*time.Millisecond))
		}()
	}

	time.Sleep(idle)
	home, _ := os.UserHomeDir()
	var total rss
	var parts []string
	for _, c := range []string{"apiserver", "controller-manager", "scheduler"} {
		b, err := os.ReadFile(filepath.Join(home, ".minik8s", "lab", "run", c+".pid"))
		if err != nil {
			return err
		}
		r := rssOf(strings.TrimSpace(string(b)))
		total.total += r.total
		total.anon += r.anon
		total.file += r.file
		parts = append(parts, fmt.Sprintf("%s %.1f", c, mib(r.total)))
	}
	fmt.Printf("idle RSS of the control plane with %d nodes after %s: %.1f MiB (%s MiB) (goal ≤ 150 MiB)\n", nodes, idle, mib(total.total), strings.Join(parts, ", "))
	fmt.Printf("  of which anonymous (heap, stacks) %.1f MiB, pages of the binaries mapped from their files %.1f MiB\n", mib(total.anon), mib(total.file))

	if pods == 0 {
		return nil
	}
	return podRuns(nodes, pods, rate)
}

// agentRSS is the RSS of every node agent, in MiB, with the number of
// pods of ns it runs: the run's pods are spread over the nodes, so each
// agent holds its share of them, not all.
func agentRSS(ctx context.Context, cs kubernetes.Interface, ns string, nodes int) string {
	perNode := map[string]int{}
	if l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
		for _, p := range l.Items {
			perNode[p.Spec.NodeName]++
		}
	}
	home, _ := os.UserHomeDir()
	var parts []string
	for i := 1; i <= nodes; i++ {
		b, err := os.ReadFile(filepath.Join(home, ".minik8s", "lab", "run", fmt.Sprintf("kubelet-node%d.pid", i)))
		if err != nil {
			continue
		}
		node := lab.Node{Index: i}.Name()
		r := rssOf(strings.TrimSpace(string(b)))
		parts = append(parts, fmt.Sprintf("%s %.1f MiB (%d pods; anonymous %.1f, binary %.1f)", node, mib(r.total), perNode[node], mib(r.anon), mib(r.file)))
	}
	return strings.Join(parts, ", ")
}

// labConfig reaches the lab as its admin (the lab's kubeconfig: TLS and
// a client certificate).
func labConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", restconfig.LabKubeconfig())
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	return cfg, nil
}

// podRuns measures pod start-up latency, paced then burst, on a running lab.
func podRuns(nodes, pods int, rate float64) error {
	cfg, err := labConfig()
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	ns := "bench-lab"
	cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	// Warm the image on every node.
	var warm []string
	for i := 1; i <= nodes; i++ {
		warm = append(warm, fmt.Sprintf("warm-%d", i))
	}
	warmImage := func(int) string { return "minik8s/toolbox:latest" }
	if _, err := startPods(ctx, cs, ns, warm, 0, func(i int) string { return lab.Node{Index: i + 1}.Name() }, warmImage); err != nil {
		return fmt.Errorf("warming the image: %w", err)
	}
	type podRun struct {
		name, kind string
		rate       float64
		cold       bool
	}
	paced := fmt.Sprintf("paced %.0f pods/s", rate)
	runs := []podRun{{paced, "warm", rate, false}, {paced, "cold", rate, true}, {"burst", "warm", 0, false}}
	if rate == 0 {
		runs = runs[2:]
	}
	for _, r := range runs {
		names := make([]string, pods)
		for i := range names {
			names[i] = fmt.Sprintf("%s-%s-%d", strings.Fields(r.name)[0], r.kind, i)
		}
		image := warmImage
		if r.cold {
			cold, err := pushColdImages(ctx, pods)
			if err != nil {
				return fmt.Errorf("pushing cold images: %w", err)
			}
			image = func(i int) string { return cold[i] }
		}
		stepsBefore, cpuBefore := agentSteps(nodes), labCPU()
		lat, err := startPods(ctx, cs, ns, names, r.rate, nil, image)
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		fmt.Printf("pod start-up (create → Running, %s image), %s, %d pods: %s\n", r.kind, r.name, pods, stats.Summary(lat, roundMs))
		printSteps(stepsBefore, agentSteps(nodes))
		printCPU(cpuBefore, labCPU(), stats.Percentile(lat, 100))
		fmt.Printf("agent RSS, %d pods of the run spread over %d nodes, plus a warm-up pod each: %s (goal ≤ 40 MiB)\n", pods, nodes, agentRSS(ctx, cs, ns, nodes))
		for _, name := range names {
			cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		}
		// The next run starts on quiet nodes, not during 30 teardowns.
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err == nil && len(l.Items) <= nodes {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	return nil
}

// pushColdImages pushes n images to the lab registry that no node has
// pulled: each is the toolbox image plus a layer of its own holding 1 MiB
// of random bytes, under a tag never used before. A pod's pull then fetches
// a new manifest, config and layer and unpacks the layer (the toolbox
// layer below is on every node after the warm-up, as base layers usually
// are). It returns the names pods use (through the lab's docker.io mirror).
func pushColdImages(ctx context.Context, n int) ([]string, error) {
	base, err := remote.Image(name.MustParseReference(lab.RegistryAddr+"/minik8s/toolbox:latest", name.Insecure), remote.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	var out []string
	for i := 0; i < n; i++ {
		layer, err := random.Layer(1<<20, types.DockerLayer)
		if err != nil {
			return nil, err
		}
		img, err := mutate.AppendLayers(base, layer)
		if err != nil {
			return nil, err
		}
		short := fmt.Sprintf("minik8s/cold:%s-%d", run, i)
		ref, err := name.ParseReference(lab.RegistryAddr+"/"+short, name.Insecure)
		if err != nil {
			return nil, err
		}
		if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
			return nil, err
		}
		out = append(out, short)
	}
	return out, nil
}

// rss is a process's resident memory in KiB: the total (VmRSS), its
// anonymous part (heap, stacks) and its file-backed part — for our
// static binaries, pages of the executable the kernel mapped (on a fault
// it maps the neighbouring cached pages too), which grows with the
// binary's size more than with what the process does.
type rss struct{ total, anon, file int64 }

func rssOf(pid string) rss {
	var r rss
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			r.total = v
		case "RssAnon:":
			r.anon = v
		case "RssFile:":
			r.file = v
		}
	}
	return r
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

func roundMs(d time.Duration) string { return d.Round(time.Millisecond).String() }

// startPods creates the pods (rate per second, 0 = all at once) and returns
// each one's time from create to the watch seeing it Running.
func startPods(ctx context.Context, cs kubernetes.Interface, ns string, names []string, rate float64, node, image func(int) string) ([]time.Duration, error) {
	w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	running := map[string]time.Duration{}
	bound := map[string]time.Duration{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if ev.Type == watch.Error {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if p.Spec.NodeName != "" {
				mu.Lock()
				if t, ok := created[p.Name]; ok {
					if _, seen := bound[p.Name]; !seen {
						bound[p.Name] = time.Since(t)
					}
				}
				mu.Unlock()
			}
			if p.Status.Phase != corev1.PodRunning {
				continue
			}
			mu.Lock()
			if t, ok := created[p.Name]; ok {
				if _, seen := running[p.Name]; !seen {
					running[p.Name] = time.Since(t)
				}
			}
			n := len(running)
			mu.Unlock()
			if n == len(names) {
				return
			}
		}
	}()
	for i, name := range names {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: new(int64),
				Containers:                    []corev1.Container{{Name: "c", Image: image(i), Command: []string{"sleep", "3600"}}},
			},
		}
		if node != nil {
			pod.Spec.NodeName = node(i)
		}
		mu.Lock()
		created[name] = time.Now()
		mu.Unlock()
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		if rate > 0 {
			time.Sleep(time.Duration(float64(time.Second) / rate))
		}
	}
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		return nil, fmt.Errorf("only %d of %d pods Running after 3 minutes", len(running), len(names))
	}
	out := make([]time.Duration, 0, len(running))
	for _, d := range running {
		out = append(out, d)
	}
	if node == nil {
		mu.Lock()
		var b []time.Duration
		for _, d := range bound {
			b = append(b, d)
		}
		mu.Unlock()
		fmt.Printf("  create → bound to a node (scheduler, as the watch sees it): %s\n", stats.Summary(b, roundMs))
	}
	return out, nil
}

// stepStat is the sum (seconds) and count of one step histogram.
type stepStat struct{ sum, count float64 }

// agentSteps reads the agents' pod start step histograms from their
// /metrics (node i's agent listens on its node address, port 10250), summed over
// the nodes.
func agentSteps(nodes int) map[string]stepStat {
	const metric = "kubelet_pod_start_step_duration_seconds"
	out := map[string]stepStat{}
	// The agents' API is TLS with their own self-signed serving
	// certificates; the admin's client certificate is what lets us in.
	cfg, err := labConfig()
	if err != nil {
		return out
	}
	tc, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return out
	}
	tc.InsecureSkipVerify, tc.RootCAs = true, nil
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}
	for i := 1; i <= nodes; i++ {
		resp, err := c.Get("https://" + lab.Node{Index: i}.IP() + ":10250/metrics")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			l := sc.Text()
			rest, ok := strings.CutPrefix(l, metric)
			if !ok {
				continue
			}
			kind, rest, _ := strings.Cut(rest, "{step=\"")
			step, val, ok := strings.Cut(rest, "\"} ")
			if !ok {
				continue
			}
			v, _ := strconv.ParseFloat(val, 64)
			st := out[step]
			switch kind {
			case "_sum":
				st.sum += v
			case "_count":
				st.count += v
			}
			out[step] = st
		}
		resp.Body.Close()
	}
	return out
}

// printSteps prints the mean of every step over the run.
func printSteps(before, after map[string]stepStat) {
	var parts []string
	for _, step := range []string{"netns", "cni_add", "image", "spec", "snapshot", "container_create", "task_create", "task_start", "status_write", "pod_start"} {
		a, b := after[step], before[step]
		if n := a.count - b.count; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", step, time.Duration((a.sum-b.sum)/n*float64(time.Second)).Round(time.Millisecond)))
		}
	}
	if len(parts) > 0 {
		fmt.Printf("  agent steps, mean per pod or container: %s\n", strings.Join(parts, ", "))
	}
}

// labCgroups are the lab's cgroups under minik8s-lab (pkg/lab).
var labCgroups = []string{"containerd", "apiserver", "controller-manager", "scheduler", "registry", "agents"}

// labCPU is the CPU time used so far by each of the lab's cgroups (shims
// and runc count under containerd, CNI plugins under the agents), read in
// the host's cgroup layout, v1 or v2. A host without either has no
// figures, and says why.
func labCPU() map[string]time.Duration {
	out := map[string]time.Duration{}
	c, err := cgroup.Detect(cgroup.Root)
	if err != nil {
		fmt.Fprintf(os.Stderr, "no CPU figures: %v\n", err)
		return out
	}
	for _, name := range labCgroups {
		d, err := c.CPUUsage("minik8s-lab/" + name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "no CPU figure for %s: %v\n", name, err)
			continue
		}
		out[name] = d
	}
	return out
}

// printCPU prints the CPU time each part of the lab used during a run.
func printCPU(before, after map[string]time.Duration, wall time.Duration) {
	var parts []string
	var total time.Duration
	for _, c := range labCgroups {
		if d, ok := after[c]; ok {
			total += d - before[c]
			parts = append(parts, fmt.Sprintf("%s %s", c, (d-before[c]).Round(10*time.Millisecond)))
		}
	}
	if len(parts) > 0 {
		fmt.Printf("  CPU used during the run (wall %s): %s, total %s\n", wall, strings.Join(parts, ", "), total.Round(10*time.Millisecond))
	}
}
