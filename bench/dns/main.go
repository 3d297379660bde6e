// Command dns measures the lab's cluster DNS (CoreDNS behind kube-dns,
// 10.96.0.10) from inside a node's network namespace, as a pod's queries
// go: through the Service proxy to the CoreDNS pods. As root:
//
//	bin/ctl lab up --nodes 3
//	go run ./bench/dns [-node node1] [-workers 8] [-duration 5s] [-max-queries 200000] [-services 1] [-ready 20]
//
// It makes its own namespace with -services ClusterIP Services (one of
// them is the name queried) and deletes it at the end, then reports:
//
//   - throughput: -workers closed-loop clients, each with its own UDP
//     socket and one query outstanding, ask for an A record of a Service
//     name for -duration or -max-queries, whichever comes first; queries/s
//     and p50/p99 latency;
//   - name-ready: -ready Services created one after another, each the time
//     from its creation to its name resolving (polled every 5 ms), p50/p99.
//
// Traffic goes only from the node's namespace to the Service address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"minik8s/bench/internal/stats"
	"minik8s/pkg/netns"
	"minik8s/pkg/restconfig"
)

type config struct {
	node       string
	server     string
	workers    int
	duration   time.Duration
	maxQueries int
	services   int
	ready      int
}

func main() {
	c := config{}
	flag.StringVar(&c.node, "node", "node1", "lab node whose network namespace sends the queries")
	flag.StringVar(&c.server, "server", "10.96.0.10:53", "cluster DNS address")
	flag.IntVar(&c.workers, "workers", 8, "concurrent clients, one query outstanding each")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "throughput run length (at most)")
	flag.IntVar(&c.maxQueries, "max-queries", 200000, "throughput run query count (at most)")
	flag.IntVar(&c.services, "services", 1, "Services in the namespace during the throughput run (at least 1)")
	flag.IntVar(&c.ready, "ready", 20, "Services whose name-ready time is measured")
	flag.Parse()
	if c.workers < 1 || c.services < 1 || c.duration <= 0 || c.duration > 5*time.Minute || c.maxQueries < 1 || c.ready < 0 || c.ready > 1000 {
		fmt.Fprintln(os.Stderr, "dns: want -workers ≥ 1, -services ≥ 1, 0 < -duration ≤ 5m, -max-queries ≥ 1, 0 ≤ -ready ≤ 1000")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "dns:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config) error {
	cfg, err := restconfig.NewOptions().Load()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 200, 400
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := fmt.Sprintf("dnsbench-%d", time.Now().Unix())
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace (is a lab up? bin/ctl lab up, as root): %w", err)
	}
	defer client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})

	fmt.Printf("creating %d Services in %s\n", c.services, ns)
	for i := 0; i < c.services; i++ {
		if _, err := client.CoreV1().Services(ns).Create(ctx, service(fmt.Sprintf("s%d", i)), metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	name := fmt.Sprintf("s0.%s.svc.cluster.local.", ns)
	conns, err := dialInNode(c.node, c.server, c.workers+1)
	if err != nil {
		return err
	}
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	if _, err := waitName(ctx, conns[c.workers], name, time.Now(), 30*time.Second); err != nil {
		return fmt.Errorf("%s does not resolve: %w", name, err)
	}

	n, lat, took, err := throughput(ctx, conns[:c.workers], name, c.duration, c.maxQueries)
	if err != nil {
		return err
	}
	fmt.Printf("throughput: %d queries for %s from %s by %d workers in %v: %.0f queries/s; latency %s\n",
		n, name, c.node, c.workers, took.Round(time.Millisecond), float64(n)/took.Seconds(), stats.Summary(lat, roundUs))

	var ready []time.Duration
	for i := 0; i < c.ready; i++ {
		svc := service(fmt.Sprintf("r%d", i))
		start := time.Now()
		if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return err
		}
		d, err := waitName(ctx, conns[c.workers], fmt.Sprintf("%s.%s.svc.cluster.local.", svc.Name, ns), start, 30*time.Second)
		if err != nil {
			return fmt.Errorf("service %s: %w", svc.Name, err)
		}
		ready = append(ready, d)
	}
	if c.ready > 0 {
		fmt.Printf("name-ready over %d Services (create → A record from %s): %s\n", c.ready, c.server, stats.Summary(ready, roundMs))
	}
	return nil
}

func service(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "none"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// dialInNode opens n UDP sockets connected to server from inside the
// node's network namespace. A socket stays in the namespace it was made
// in, so the sockets are used from anywhere.
func dialInNode(node, server string, n int) ([]*net.UDPConn, error) {
	var conns []*net.UDPConn
	err := netns.Do("/run/netns/mk8s-"+node, func() error {
		addr, err := net.ResolveUDPAddr("udp", server)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			c, err := net.DialUDP("udp", nil, addr)
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		for _, c := range conns {
			c.Close()
		}
		return nil, err
	}
	return conns, nil
}

var errNoAnswer = errors.New("no A record")

// query asks for name's A record and waits up to timeout for the answer
// with the same ID.
func query(conn *net.UDPConn, name string, timeout time.Duration, buf []byte) error {
	id := uint16(rand.Uint32())
	q := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	b, err := q.Pack()
	if err != nil {
		return err
	}
	if _, err := conn.Write(b); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	conn.SetReadDeadline(deadline)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return err
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || h.ID != id {
			continue // a late answer to an earlier query
		}
		if h.RCode != dnsmessage.RCodeSuccess {
			return fmt.Errorf("rcode %v", h.RCode)
		}
		if err := p.SkipAllQuestions(); err != nil {
			return err
		}
		for {
			ah, err := p.AnswerHeader()
			if err != nil {
				return errNoAnswer
			}
			if ah.Type == dnsmessage.TypeA {
				return nil
			}
			if err := p.SkipAnswer(); err != nil {
				return err
			}
		}
	}
}

// throughput runs the workers until duration or max queries.
func throughput(ctx context.Context, conns []*net.UDPConn, name string, duration time.Duration, max int) (int, []time.Duration, time.Duration, error) {
	var count atomic.Int64
	var failed atomic.Int64
	lats := make([][]time.Duration, len(conns))
	stop := time.Now().Add(duration)
	start := time.Now()
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1500)
			for time.Now().Before(stop) && ctx.Err() == nil && count.Add(1) <= int64(max) {
				t := time.Now()
				if err := query(conn, name, time.Second, buf); err != nil {
					failed.Add(1)
					continue
				}
				lats[i] = append(lats[i], time.Since(t))
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if f := failed.Load(); f > 0 {
		fmt.Printf("  %d queries failed or timed out (1 s)\n", f)
	}
	if len(all) == 0 {
		return 0, nil, took, errors.New("no query answered")
	}
	return len(all), all, took, ctx.Err()
}

// waitName polls name every 5 ms until it has an A record; it returns the
// time since start.
func waitName(ctx context.Context, conn *net.UDPConn, name string, start time.Time, limit time.Duration) (time.Duration, error) {
	buf := make([]byte, 1500)
	var last error
	for time.Since(start) < limit && ctx.Err() == nil {
		if last = query(conn, name, 200*time.Millisecond, buf); last == nil {
			return time.Since(start), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("no A record within %v: %v", limit, last)
}

func roundMs(d time.Duration) string { return d.Round(time.Millisecond).String() }
func roundUs(d time.Duration) string { return d.Round(time.Microsecond).String() }
