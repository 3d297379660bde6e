// Command services measures Service creates on one apiserver (embedded
// etcd, plain HTTP): the cost of allocating their ClusterIPs and
// NodePorts.
//
//	go run ./bench/services -n 2000 -clients 4 -type NodePort
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"minik8s/bench/internal/benchserver"
)

func main() {
	n := flag.Int("n", 2000, "Services to create")
	clients := flag.Int("clients", 4, "concurrent clients")
	typ := flag.String("type", "NodePort", "Service type: ClusterIP or NodePort")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run here")
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
	if err := run(*n, *clients, *typ); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const svcTemplate = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc-%06d","namespace":"default"},"spec":{"type":%q,"selector":{"app":"a%d"},"ports":[{"port":80,"targetPort":8080}]}}`

func run(n, clients int, typ string) error {
	s, err := benchserver.Start(context.Background(), "minik8s-bench-", benchserver.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	base := s.URL
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}}
	lat := make([]time.Duration, n)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < n; i += clients {
				t := time.Now()
				resp, err := hc.Post(base+"/api/v1/namespaces/default/services", "application/json", strings.NewReader(fmt.Sprintf(svcTemplate, i, typ, i)))
				if err != nil {
					errs <- err
					return
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					errs <- fmt.Errorf("create svc-%06d: %d %s", i, resp.StatusCode, data)
					return
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	slices.Sort(lat)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("%d %s Services, %d clients: %.0f Services/s, latency p50 %s p99 %s\n",
		n, typ, clients, float64(n)/elapsed.Seconds(), ms(lat[n/2]), ms(lat[n*99/100]))
	return nil
}
