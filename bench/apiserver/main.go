// Command apiserver benchmarks the API server against the etcd under it:
// 10,000 pod creates through HTTP with 4 concurrent clients, a list of
// them, a watch that times event delivery, and, in the same run, raw etcd
// transactions with the same clients and value size.
//
// By default it runs as a user with a client certificate over TLS,
// authorized by RBAC through a ClusterRoleBinding (not system:masters,
// which skips RBAC); -insecure runs the same over the plain-HTTP
// listener, where no authentication or authorization happens, for the
// cost of security.
//
//	go run ./bench/apiserver [-n 10000] [-clients 4] [-insecure]
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"minik8s/bench/internal/benchserver"
	"minik8s/bench/internal/stats"
	"minik8s/pkg/pki"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func main() {
	n := flag.Int("n", 10000, "pods to create")
	clients := flag.Int("clients", 4, "concurrent clients")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run here")
	insecure := flag.Bool("insecure", false, "plain HTTP, no authentication or authorization")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(*n, *clients, *insecure); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

const podTemplate = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pod-%06d","namespace":"bench","labels":{"app":"bench","shard":"s%d"}},"spec":{"containers":[{"name":"app","image":"minik8s/echo:latest","ports":[{"containerPort":8080}],"env":[{"name":"A","value":"1"}],"resources":{"requests":{"cpu":"10m","memory":"16Mi"}}}]}}`

func run(n, clients int, insecure bool) error {
	ctx := context.Background()
	s, err := benchserver.Start(ctx, "minik8s-bench-", benchserver.Options{TLS: !insecure})
	if err != nil {
		return err
	}
	defer s.Close()
	cfg := s.Config
	base := s.URL
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: 0}}
	mode := "plain HTTP, no authentication or authorization"
	if !insecure {
		if hc, err = benchUser(ctx, cfg.CertDir, base, clients); err != nil {
			return err
		}
		mode = "TLS, client certificate of user bench (RBAC: ClusterRoleBinding to cluster-admin)"
	}
	fmt.Printf("mode: %s\n", mode)

	post := func(path, body string) ([]byte, error) {
		resp, err := hc.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			return nil, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, data)
		}
		return data, nil
	}
	if _, err := post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"bench"}}`); err != nil {
		return err
	}
	// The ServiceAccount the controller-manager would make: pods are
	// admitted with it (and get its token volume) as in a cluster.
	if _, err := post("/api/v1/namespaces/bench/serviceaccounts", `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}`); err != nil {
		return err
	}
	// One pod to learn the stored size, then removed from the count.
	sample, err := post("/api/v1/namespaces/bench/pods", fmt.Sprintf(podTemplate, 999999, 0))
	if err != nil {
		return err
	}
	valueSize := len(sample)

	// Watch all pods of the namespace from now.
	rvResp, err := hc.Get(base + "/api/v1/namespaces/bench/pods?limit=1")
	if err != nil {
		return err
	}
	var lm struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	_ = json.NewDecoder(rvResp.Body).Decode(&lm)
	rvResp.Body.Close()
	var done sync.Map // name → [2]time.Time: create sent, create returned
	watchDelays := make([]time.Duration, 0, n)
	watchFromSend := make([]time.Duration, 0, n)
	var wmu sync.Mutex
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	req, _ := http.NewRequestWithContext(wctx, "GET", base+"/api/v1/namespaces/bench/pods?watch=true&resourceVersion="+lm.Metadata.ResourceVersion, nil)
	wresp, err := hc.Do(req)
	if err != nil {
		return err
	}
	watched := make(chan struct{})
	var seen atomic.Int64
	go func() {
		defer close(watched)
		sc := bufio.NewScanner(wresp.Body)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			now := time.Now()
			line := sc.Bytes()
			i := bytes.Index(line, []byte(`"name":"pod-`))
			if i < 0 {
				continue
			}
			name := string(line[i+8 : i+8+10])
			// The create may not have returned yet; wait for its stamp.
			for k := 0; k < 2000; k++ {
				if v, ok := done.Load(name); ok {
					t := v.([2]time.Time)
					d := now.Sub(t[1])
					if d < 0 {
						d = 0
					}
					wmu.Lock()
					watchDelays = append(watchDelays, d)
					watchFromSend = append(watchFromSend, now.Sub(t[0]))
					wmu.Unlock()
					break
				}
				time.Sleep(50 * time.Microsecond)
				now = now.Add(0)
			}
			if seen.Add(1) == int64(n) {
				return
			}
		}
	}()

	// API creates, interleaved in rounds with raw etcd transactions (the
	// same clients, same value size, create-if-absent), so that whatever
	// else loads the machine weighs on both alike.
	lat := make([][]time.Duration, clients)
	var elapsed time.Duration
	var raw rawResult
	const rounds = 5
	for r := 0; r < rounds; r++ {
		from, to := r*n/rounds, (r+1)*n/rounds
		rr, err := rawEtcd(ctx, s.Store().Client(), from, to, clients, valueSize)
		if err != nil {
			return err
		}
		raw.add(rr)
		d, err := apiCreates(from, to, clients, post, &done, lat)
		if err != nil {
			return err
		}
		elapsed += d
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	select {
	case <-watched:
	case <-time.After(30 * time.Second):
	}

	wcancel()

	// List.
	var listTimes []time.Duration
	var items int
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		resp, err := hc.Get(base + "/api/v1/namespaces/bench/pods")
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		// Timed: until the whole body is in; the client's own decoding
		// is not the server's cost.
		listTimes = append(listTimes, time.Since(t0))
		var l struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(body, &l); err != nil {
			return err
		}
		items = len(l.Items)
	}

	// The same read straight from etcd, for scale.
	var rangeTimes []time.Duration
	for i := 0; i < 5; i++ {
		t0 := time.Now()
		resp, err := s.Store().Client().Get(ctx, "/registry/pods/bench/", clientv3.WithPrefix())
		if err != nil {
			return err
		}
		if len(resp.Kvs) != items {
			return fmt.Errorf("etcd holds %d pods, the API listed %d", len(resp.Kvs), items)
		}
		rangeTimes = append(rangeTimes, time.Since(t0))
	}

	apiRate := float64(n) / elapsed.Seconds()
	fmt.Printf("minik8s apiserver benchmark (%d pods, %d clients, embedded etcd with fsync, value %d bytes)\n", n, clients, valueSize)
	rawRate := float64(raw.n) / raw.elapsed.Seconds()
	fmt.Printf("raw etcd txn:        %8.0f txn/s   %s\n", rawRate, stats.Summary(raw.lat, ms))
	fmt.Printf("API create:          %8.0f pods/s  %s\n", apiRate, stats.Summary(all, ms))
	fmt.Printf("ratio API/raw:       %8.2f          (goal >= 0.60)\n", apiRate/rawRate)
	fmt.Printf("list %d pods:     first %s  median of 5 %s  (goal < 300 ms)\n", items, ms(listTimes[0]), ms(stats.Percentile(listTimes, 50)))
	fmt.Printf("raw etcd range:   first %s  median of 5 %s  (same keys, for scale)\n", ms(rangeTimes[0]), ms(stats.Percentile(rangeTimes, 50)))
	fmt.Printf("watch delay:         %s  (%d events; create response → event, 0 if the event came first; goal p99 < 20 ms)\n", stats.Summary(watchDelays, ms), len(watchDelays))
	fmt.Printf("create sent → event: %s  (an upper bound: includes the create itself)\n", stats.Summary(watchFromSend, ms))
	return nil
}

type rawResult struct {
	n       int
	elapsed time.Duration
	lat     []time.Duration
}

func (r *rawResult) add(o rawResult) {
	r.n += o.n
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
}

// apiCreates posts pods from..to-1 with clients concurrent clients.
func apiCreates(from, to, clients int, post func(path, body string) ([]byte, error), done *sync.Map, lat [][]time.Duration) (time.Duration, error) {
	var next atomic.Int64
	next.Store(int64(from))
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				body := fmt.Sprintf(podTemplate, i, i%8)
				t0 := time.Now()
				_, err := post("/api/v1/namespaces/bench/pods", body)
				t1 := time.Now()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				done.Store(fmt.Sprintf("pod-%06d", i), [2]time.Time{t0, t1})
				lat[c] = append(lat[c], t1.Sub(t0))
			}
		}(c)
	}
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return 0, e.(error)
	}
	return time.Since(start), nil
}

func rawEtcd(ctx context.Context, c *clientv3.Client, from, to, clients, size int) (rawResult, error) {
	value := strings.Repeat("x", size)
	var next atomic.Int64
	next.Store(int64(from))
	lat := make([][]time.Duration, clients)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				key := fmt.Sprintf("/bench/raw/%06d", i)
				t0 := time.Now()
				_, err := c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", 0)).Then(clientv3.OpPut(key, value)).Commit()
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	if e := firstErr.Load(); e != nil {
		return rawResult{}, e.(error)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return rawResult{n: to - from, elapsed: elapsed, lat: all}, nil
}

// benchUser binds user "bench" to cluster-admin as the admin, and returns
// an HTTP client that is "bench" by its client certificate.
func benchUser(ctx context.Context, certDir, base string, clients int) (*http.Client, error) {
	ca, err := pki.LoadCA(certDir)
	if err != nil {
		return nil, err
	}
	client := func(id pki.Identity) (*http.Client, error) {
		certPEM, keyPEM, err := ca.Issue(pki.ClientRequest(id))
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca.CertPEM)
		return &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: clients * 2,
			TLSClientConfig:     &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		}}, nil
	}
	admin, err := client(pki.Admin)
	if err != nil {
		return nil, err
	}
	binding := `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"bench"},` +
		`"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},` +
		`"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"bench"}]}`
	resp, err := admin.Post(base+"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "application/json", strings.NewReader(binding))
	if err != nil {
		return nil, err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("binding user bench: %d %s", resp.StatusCode, data)
	}
	return client(pki.Identity{User: "bench"})
}
