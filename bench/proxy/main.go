// Command proxy benchmarks pkg/proxy inside network namespaces it creates
// and removes: (1) nftables sync time for N Services x 5 endpoints, the
// time of a one-Service change and of the periodic check, (2) requests/s
// and CPU per request through a ClusterIP versus straight to the pod IP,
// same server, from the node and from a pod.
//
//	go run ./bench/proxy    # as root
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"minik8s/bench/internal/stats"
	"minik8s/pkg/netns"
	"minik8s/pkg/proxy"
)

func main() {
	sizes := flag.String("services", "1000,10000", "Service counts for the sync benchmark")
	eps := flag.Int("endpoints", 5, "endpoints per Service")
	changes := flag.Int("changes", 20, "one-Service changes timed at the largest size")
	dur := flag.Duration("duration", 30*time.Second, "length of each requests/s run, per target")
	workers := flag.Int("workers", 4, "concurrent clients in the requests/s runs")
	nslices := flag.Int("slices", 20, "alternating slices each requests/s run is cut into (even: half start with each target)")
	keep := flag.Bool("keep", false, "leave the namespaces (debugging; remove with ip netns del)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/proxy needs root (network namespaces, nftables)")
		os.Exit(1)
	}
	if *nslices < 1 {
		fmt.Fprintln(os.Stderr, "bench/proxy: -slices must be at least 1")
		os.Exit(2)
	}
	b := &bench{prefix: fmt.Sprintf("pxb-%d", os.Getpid()%100000)}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; b.cleanup(); os.Exit(1) }()
	err := b.run(*sizes, *eps, *changes, *dur, *nslices, *workers)
	if !*keep {
		b.cleanup()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/proxy:", err)
		os.Exit(1)
	}
}

type bench struct {
	prefix string
	made   []string
}

func (b *bench) ns(s string) string { return b.prefix + "-" + s }

func (b *bench) cleanup() {
	for _, n := range b.made {
		_ = exec.Command("ip", "netns", "del", n).Run()
	}
}

func run(args ...string) error {
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// runIn runs a command in the namespace /run/netns/name (nsFile).
func runIn(name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := netns.Start(nsFile(name), cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("in %s: %s: %v: %s", name, strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}

func nsFile(name string) string { return "/run/netns/" + name }

// setup makes node, endpoint and pod-client namespaces joined by veth
// pairs: endpoint 10.244.1.5 <-> 10.244.1.1 node 10.244.2.1 <-> 10.244.2.5
// client. The node forwards between them, as it does for its pods.
func (b *bench) setup() error {
	for _, n := range []string{b.ns("n"), b.ns("e"), b.ns("c")} {
		if err := run("ip", "netns", "add", n); err != nil {
			return err
		}
		b.made = append(b.made, n)
	}
	node, ep, client := b.ns("n"), b.ns("e"), b.ns("c")
	for _, c := range [][]string{
		{node, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
		{node, "ip", "link", "add", "pxn1", "type", "veth", "peer", "name", "pxc0", "netns", client},
		{node, "ip", "addr", "add", "10.244.2.1/24", "dev", "pxn1"},
		{node, "ip", "link", "set", "pxn1", "up"},
		{client, "ip", "addr", "add", "10.244.2.5/24", "dev", "pxc0"},
		{client, "ip", "link", "set", "lo", "up"},
		{client, "ip", "link", "set", "pxc0", "up"},
		{client, "ip", "route", "add", "default", "via", "10.244.2.1"},
		{node, "ip", "link", "add", "pxn0", "type", "veth", "peer", "name", "pxe0", "netns", ep},
		{node, "ip", "addr", "add", "10.244.1.1/24", "dev", "pxn0"},
		{node, "ip", "link", "set", "lo", "up"},
		{node, "ip", "link", "set", "pxn0", "up"},
		{node, "ip", "route", "add", "10.96.0.0/12", "dev", "pxn0"},
		{ep, "ip", "addr", "add", "10.244.1.5/24", "dev", "pxe0"},
		{ep, "ip", "link", "set", "lo", "up"},
		{ep, "ip", "link", "set", "pxe0", "up"},
		{ep, "ip", "route", "add", "default", "via", "10.244.1.1"},
	} {
		if err := runIn(c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// objects makes n ClusterIP Services with e endpoints each.
func objects(n, e int) ([]*v1.Service, []*discoveryv1.EndpointSlice) {
	var svcs []*v1.Service
	var slices []*discoveryv1.EndpointSlice
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc%d", i)
		svcs = append(svcs, &v1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []v1.ServicePort{{Name: "http", Protocol: v1.ProtocolTCP, Port: 80}}},
		})
		sl := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "bench", Name: name + "-x", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Protocol: ptr.To(v1.ProtocolTCP), Port: ptr.To[int32](8080)}},
		}
		for j := 0; j < e; j++ {
			k := i*e + j
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{fmt.Sprintf("10.%d.%d.%d", 100+k/62500, (k/250)%250, k%250+1)},
				NodeName:   ptr.To(fmt.Sprintf("node%d", k%3)),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			})
		}
		slices = append(slices, sl)
	}
	return svcs, slices
}

func (b *bench) run(sizes string, eps, changes int, dur time.Duration, nslices, workers int) error {
	if err := b.setup(); err != nil {
		return err
	}
	nsPath := "/run/netns/" + b.ns("n")
	var ns []int
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("bad -services %q", sizes)
		}
		ns = append(ns, n)
	}
	fmt.Println("== sync: one nftables transaction per sync, in netns", b.ns("n"))
	var lastSvcs []*v1.Service
	var lastSlices []*discoveryv1.EndpointSlice
	for idx, n := range ns {
		p, err := proxy.New(proxy.Config{NodeName: "node0", ClusterCIDR: "10.244.0.0/16", NetNS: nsPath}, nil)
		if err != nil {
			return err
		}
		svcs, slices := objects(n, eps)
		lastSvcs, lastSlices = svcs, slices
		start := time.Now()
		st := proxy.Compute(svcs, slices, "node0", nil)
		compute := time.Since(start)
		start, c0 := time.Now(), cpu()
		if err := p.Sync(svcs, slices, true); err != nil {
			return fmt.Errorf("full sync of %d services: %w", n, err)
		}
		full, fullCPU := time.Since(start), cpu()-c0
		fmt.Printf("full sync  %6d services x %d endpoints: wall %8.1f ms, cpu %8.1f ms  (compute alone %.1f ms; %d rules in %d service chains, %d map elements)\n",
			n, eps, ms(full), ms(fullCPU), ms(compute), st.Rules(), len(st.Chains), st.Elements())
		if idx != len(ns)-1 {
			continue
		}
		var ds, cs []time.Duration
		for c := 0; c < changes; c++ {
			i := (c*7919 + 13) % n
			sl := slices[i].DeepCopy()
			sl.Endpoints[c%eps].Addresses = []string{fmt.Sprintf("10.99.%d.%d", c/250, c%250+1)}
			slices[i] = sl
			start, c0 := time.Now(), cpu()
			if err := p.Sync(svcs, slices, false); err != nil {
				return fmt.Errorf("change %d: %w", c, err)
			}
			ds = append(ds, time.Since(start))
			cs = append(cs, cpu()-c0)
		}
		msText := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", ms(d)) }
		fmt.Printf("one-Service change at %d services (%d changes, compute+write): wall %s; cpu %s\n",
			n, changes, stats.Summary(ds, msText), stats.Summary(cs, msText))
		// The periodic check reads the whole table back after a change,
		// and only the ruleset generation while nothing changed.
		for _, what := range []string{"after a change (reads the table back)", "nothing changed since (generation only)"} {
			start, c0 = time.Now(), cpu()
			if err := p.Verify(); err != nil {
				return fmt.Errorf("verify at %d services: %w", n, err)
			}
			fmt.Printf("verify at %d services, %s: wall %.1f ms, cpu %.1f ms\n", n, what, ms(time.Since(start)), ms(cpu()-c0))
		}
	}
	if dur <= 0 {
		return nil
	}
	return b.rps(nsPath, dur, nslices, workers, lastSvcs, lastSlices)
}

// cpu is this process's user+system CPU time (the kernel's work on the
// netlink batch counts as our system time), which the load of other
// processes on the machine does not inflate the way it does wall time.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// rps compares requests/s through a ClusterIP and straight to the pod IP.
// The Service under test sits among the others of the sync benchmark, so
// the dispatch map holds all of them.
func (b *bench) rps(nsPath string, dur time.Duration, rounds, workers int, others []*v1.Service, otherSlices []*discoveryv1.EndpointSlice) error {
	p, err := proxy.New(proxy.Config{NodeName: "node0", ClusterCIDR: "10.244.0.0/16", NetNS: nsPath}, nil)
	if err != nil {
		return err
	}
	svcs, slices := objects(1, 1)
	svcs[0].Name, svcs[0].Spec.ClusterIP = "target", "10.111.0.10"
	slices[0].Labels[discoveryv1.LabelServiceName] = "target"
	slices[0].Endpoints[0].Addresses = []string{"10.244.1.5"}
	// As seen from a pod of this node, the endpoint is on another node:
	// the common case. An endpoint on the pod's own bridge is also
	// masqueraded (hairpin), a second rewrite of every packet.
	slices[0].Endpoints[0].NodeName = ptr.To("node1")
	svcs, slices = append(svcs, others...), append(slices, otherSlices...)
	if err := p.Sync(svcs, slices, true); err != nil {
		return err
	}
	// The same server answers the ClusterIP's endpoint on 8080 and the
	// direct requests on 8081. With one port, a ClusterIP connection from
	// client port p has the same reply tuple (pod:8080 -> client:p) as a
	// direct one from p: while the first's conntrack entry lives (TIME_WAIT,
	// 120 s), the second's SYN is dropped and retried a second later. The
	// two targets would then measure each other's port reuse, not their
	// own path.
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })}
	defer srv.Close()
	for _, addr := range []string{"10.244.1.5:8080", "10.244.1.5:8081"} {
		var ln net.Listener
		if err := netns.Do(nsFile(b.ns("e")), func() (err error) { ln, err = net.Listen("tcp4", addr); return err }); err != nil {
			return err
		}
		go func() { _ = srv.Serve(ln) }()
	}

	// The client's sockets are made in the node namespace (its packets
	// take the output hook and are routed again after DNAT) or in the pod
	// namespace (the node DNATs them in prerouting, before routing).
	dialIn := func(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
		return func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := netns.Do(nsFile(ns), func() (err error) {
				c, err = (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}
	}
	type result struct {
		rps    float64
		cpu    time.Duration // process CPU (client, server and the kernel's work in their context)
		reqs   int64
		failed int64
	}
	measure := func(client, url string, keepAlive bool, dur time.Duration) result {
		tr := &http.Transport{DialContext: dialIn(client), DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: workers}
		defer tr.CloseIdleConnections()
		cl := &http.Client{Transport: tr, Timeout: 3 * time.Second}
		var ok, failed atomic.Int64
		deadline := time.Now().Add(dur)
		c0 := cpu()
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					resp, err := cl.Get(url)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		return result{rps: float64(ok.Load()) / dur.Seconds(), cpu: cpu() - c0, reqs: ok.Load(), failed: failed.Load()}
	}
	// The machine is shared: alternate the two targets in short slices so
	// that load from other processes hits both alike, and print the spread
	// of the per-slice ratio next to the ratio of the totals. CPU time per
	// request is less sensitive to that load than requests/s.
	fmt.Printf("== requests/s, %d clients, %s per target in %d alternating slices, HTTP GET to a server in the endpoint netns; %d Services programmed\n", workers, dur, rounds, len(svcs))
	for _, m := range []struct {
		name, ns string
		ka       bool
	}{
		{"node, new connection per request", b.ns("n"), false},
		{"node, keep-alive", b.ns("n"), true},
		{"pod, new connection per request", b.ns("c"), false},
		{"pod, keep-alive", b.ns("c"), true},
	} {
		slice := dur / time.Duration(rounds)
		var direct, viaSvc result
		var ratios []float64
		add := func(sum *result, r result) {
			sum.rps += r.rps / float64(rounds)
			sum.cpu += r.cpu
			sum.reqs += r.reqs
			sum.failed += r.failed
		}
		toPod := func(d time.Duration) result { return measure(m.ns, "http://10.244.1.5:8081/", m.ka, d) }
		toSvc := func(d time.Duration) result { return measure(m.ns, "http://10.111.0.10:80/", m.ka, d) }
		// A warm-up pair, not counted: the first slice of a run also
		// pays for its binary's cold paths.
		toPod(slice / 2)
		toSvc(slice / 2)
		for r := 0; r < rounds; r++ {
			// ABBA order: whichever target runs second in a pair pays
			// for what the first left behind (closed connections, GC
			// debt), so each goes first in half of the pairs.
			var d, v result
			if r%2 == 0 {
				d, v = toPod(slice), toSvc(slice)
			} else {
				v, d = toSvc(slice), toPod(slice)
			}
			add(&direct, d)
			add(&viaSvc, v)
			ratios = append(ratios, v.rps/d.rps)
		}
		sort.Float64s(ratios)
		perReq := func(r result) float64 { return float64(r.cpu.Microseconds()) / float64(max(r.reqs, 1)) }
		fmt.Printf("%-33s pod IP %8.0f req/s %6.1f us cpu/req (%d failed)  ClusterIP %8.0f req/s %6.1f us cpu/req (%d failed)  ratio %.3f (slices %.3f..%.3f, median %.3f), cpu/req ratio %.3f\n",
			m.name+":", direct.rps, perReq(direct), direct.failed, viaSvc.rps, perReq(viaSvc), viaSvc.failed,
			viaSvc.rps/direct.rps, ratios[0], ratios[len(ratios)-1], ratios[len(ratios)/2], perReq(direct)/perReq(viaSvc))
	}
	return nil
}
