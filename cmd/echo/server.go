package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// handler answers GET / and /healthz.
// terminating makes /healthz fail while the server waits out its
// shutdown delay.
func handler(hostname, greeting string, terminating *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if terminating.Load() {
			http.Error(w, "terminating", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if d := r.URL.Query().Get("sleep"); d != "" {
			// ?sleep=500ms holds the request, to test draining.
			if dur, err := time.ParseDuration(d); err == nil && dur <= time.Minute {
				time.Sleep(dur)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, hostname)
		fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.RequestURI(), r.Proto)
		fmt.Fprintf(w, "from: %s\n", r.RemoteAddr)
		fmt.Fprintf(w, "host: %s\n", r.Host)
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "header %s: %s\n", k, strings.Join(r.Header[k], ", "))
		}
		if greeting != "" {
			fmt.Fprintln(w, greeting)
		}
	})
	return mux
}

// run serves until ctx ends, then drains HTTP and returns nil.
func run(ctx context.Context, listen, greeting string, delay time.Duration, log io.Writer) error {
	hostname, _ := os.Hostname()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", listen)
	if err != nil {
		ln.Close()
		return err
	}
	defer pc.Close()
	go udpEcho(pc, hostname)
	var terminating atomic.Bool
	srv := &http.Server{Handler: handler(hostname, greeting, &terminating), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(log, "echo: %s listening on %s (tcp, udp)\n", hostname, ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if delay > 0 {
		terminating.Store(true)
		fmt.Fprintf(log, "echo: SIGTERM: serving %s more with /healthz failing\n", delay)
		time.Sleep(delay)
	}
	fmt.Fprintln(log, "echo: SIGTERM: draining")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(log, "echo: drained, exiting")
	return nil
}

// udpEcho answers each datagram with "hostname: payload".
func udpEcho(pc net.PacketConn, hostname string) {
	buf := make([]byte, 64*1024)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(append([]byte(hostname+": "), buf[:n]...), addr)
	}
}
