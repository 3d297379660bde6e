// Command scheduler is the scheduler benchmark in the Kubernetes
// scheduler_perf shape, end to end: our apiserver on an embedded etcd in this
// process, N nodes and M pods created first, then the scheduler starts and
// the clock runs until every pod is bound.
//
//	go run ./bench/scheduler -nodes 1000 -pods 10000 -cpuprofile /tmp/sched.pprof -memprofile /tmp/allocs.pprof
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"minik8s/bench/internal/benchserver"
	"minik8s/bench/internal/stats"
	"minik8s/pkg/scheduler"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	nodes := flag.Int("nodes", 1000, "nodes to create")
	pods := flag.Int("pods", 10000, "pods to create before the scheduler starts")
	parallelism := flag.Int("parallelism", 16, "scheduler --parallelism")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the scheduling phase (whole process: apiserver, etcd, scheduler) here")
	memprofile := flag.String("memprofile", "", "write a profile of the allocations made in the scheduling phase (whole process) here")
	noFsync := flag.Bool("unsafe-no-fsync", false, "run the embedded etcd without fsync")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if *memprofile != "" {
		// Sample only the scheduling phase: off until the scheduler starts.
		runtime.MemProfileRate = 0
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	// Plain HTTP: this bench measures the scheduler, not the cost of TLS and
	// authorization (bench/apiserver does).
	srv, err := benchserver.Start(ctx, "bench-scheduler-", benchserver.Options{NoFsync: *noFsync})
	if err != nil {
		return err
	}
	defer srv.Close()
	rc := &rest.Config{Host: srv.URL, QPS: 5000, Burst: 10000}
	setup := kubernetes.NewForConfigOrDie(rc)

	t0 := time.Now()
	if err := parallel(ctx, *nodes, func(i int) error {
		_, err := setup.CoreV1().Nodes().Create(ctx, benchNode(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("creating nodes: %w", err)
	}
	fmt.Printf("created %d nodes in %v\n", *nodes, time.Since(t0).Round(time.Millisecond))
	// The ServiceAccount the controller-manager would make, which pods
	// are admitted with.
	if _, err := setup.CoreV1().ServiceAccounts("default").Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the default ServiceAccount: %w", err)
	}
	t0 = time.Now()
	if err := parallel(ctx, *pods, func(i int) error {
		_, err := setup.CoreV1().Pods("default").Create(ctx, benchPod(i), metav1.CreateOptions{})
		return err
	}); err != nil {
		return fmt.Errorf("creating pods: %w", err)
	}
	fmt.Printf("created %d pods in %v\n", *pods, time.Since(t0).Round(time.Millisecond))

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	cfg := scheduler.NewConfig()
	cfg.Parallelism = *parallelism
	if err := cfg.Validate(); err != nil {
		return err
	}
	sched := scheduler.New(kubernetes.NewForConfigOrDie(rc), cfg)
	var (
		mu        sync.Mutex
		latencies []time.Duration
		boundN    atomic.Int64
		firstBind atomic.Int64
		done      = make(chan struct{})
	)
	sched.OnBound = func(b scheduler.Bound) {
		if b.Err != nil {
			return
		}
		mu.Lock()
		latencies = append(latencies, b.Latency)
		mu.Unlock()
		firstBind.CompareAndSwap(0, time.Now().UnixNano())
		if boundN.Add(1) == int64(*pods) {
			close(done)
		}
	}
	if *memprofile != "" {
		runtime.MemProfileRate = 512 * 1024 // the default
	}
	writes0 := apiWrites()
	cpu0 := cpuTime()
	sctx, stop := context.WithCancel(ctx)
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- sched.Run(sctx) }()
	select {
	case <-done:
	case <-ctx.Done():
		stop()
		return fmt.Errorf("timed out with %d of %d pods bound", boundN.Load(), *pods)
	}
	end := time.Now()
	writes1 := apiWrites()
	cpu := cpuTime() - cpu0
	stop()
	if err := <-errc; err != nil {
		return err
	}
	if *memprofile != "" {
		if err := writeAllocs(*memprofile); err != nil {
			return err
		}
	}
	counts := sched.Stats()

	total := end.Sub(start)
	sched1 := end.Sub(time.Unix(0, firstBind.Load()))
	fmt.Printf("nodes=%d pods=%d parallelism=%d fsync=%v\n", *nodes, *pods, *parallelism, !*noFsync)
	fmt.Printf("all bound in %v (scheduler start incl. informer sync): %.0f pods/s\n", total.Round(time.Millisecond), float64(*pods)/total.Seconds())
	fmt.Printf("from first bind to last: %v: %.0f pods/s\n", sched1.Round(time.Millisecond), float64(*pods)/sched1.Seconds())
	us := func(d time.Duration) string { return d.Round(time.Microsecond).String() }
	fmt.Printf("bind latency (decision to bind response): %s, p90 %s\n", stats.Summary(latencies, us), us(stats.Percentile(latencies, 90)))
	for verb, n := range writes1 {
		fmt.Printf("api writes %-7s %6.0f (%.0f/s)\n", verb, n-writes0[verb], (n-writes0[verb])/total.Seconds())
	}
	var sum float64
	for verb, n := range writes1 {
		sum += n - writes0[verb]
	}
	fmt.Printf("api writes total %6.0f (%.0f/s)\n", sum, sum/total.Seconds())
	fmt.Printf("scheduler stats: %+v\n", counts)
	// The machine is shared; the CPU this process (apiserver, etcd and
	// scheduler together) spent per pod says what 2 free cores would give.
	perPod := cpu / time.Duration(*pods)
	fmt.Printf("process CPU in the window: %v (%.2f cores busy of %d), %v per pod: 2 free cores ≈ %.0f pods/s\n",
		cpu.Round(time.Millisecond), cpu.Seconds()/total.Seconds(), runtime.NumCPU(), perPod.Round(time.Microsecond), 2/perPod.Seconds())

	// Check the outcome through the API: every pod bound, no node over.
	list, err := setup.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	perNode := map[string]int{}
	unbound := 0
	for _, p := range list.Items {
		if p.Spec.NodeName == "" {
			unbound++
		}
		perNode[p.Spec.NodeName]++
	}
	maxPer, minPer := 0, *pods
	for i := range *nodes {
		n := perNode[fmt.Sprintf("node-%d", i)]
		maxPer, minPer = max(maxPer, n), min(minPer, n)
	}
	fmt.Printf("verify: %d unbound; pods per node min %d max %d (cap 110)\n", unbound, minPer, maxPer)
	return nil
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// apiWrites sums apiserver_request_total by verb for write verbs.
func apiWrites() map[string]float64 {
	out := map[string]float64{}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "apiserver_request_total" {
			continue
		}
		for _, m := range mf.Metric {
			verb := label(m, "verb")
			switch verb {
			case "create", "update", "patch", "delete":
				out[verb] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// cpuTime is the user+system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func parallel(ctx context.Context, n int, fn func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// benchNode is scheduler_perf's node template: 4 cpu, 32Gi, 110 pods.
func benchNode(i int) *v1.Node {
	rl := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse("4"),
		v1.ResourceMemory: resource.MustParse("32Gi"),
		v1.ResourcePods:   resource.MustParse("110"),
	}
	name := fmt.Sprintf("node-%d", i)
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: v1.NodeStatus{
			Capacity: rl, Allocatable: rl,
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
}

// benchPod is scheduler_perf's pod template (100m cpu, 500Mi), owned by one
// of 100 ReplicaSets so that spreading is exercised.
func benchPod(i int) *v1.Pod {
	yes := true
	rs := i % 100
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: fmt.Sprintf("pod-%d", i),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: fmt.Sprintf("rs-%d", rs), UID: types.UID(fmt.Sprintf("rs-uid-%d", rs)), Controller: &yes}},
		},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "pause", Image: "registry.k8s.io/pause:3.10",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{
				v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("500Mi"),
			}},
		}}},
	}
}
