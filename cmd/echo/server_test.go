package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(handler("pod-a", "hi there", new(atomic.Bool)))
	defer srv.Close()
	tests := []struct {
		path      string
		wantFirst string
		wantIn    []string
	}{
		{"/", "pod-a", []string{"GET / HTTP/1.1", "hi there"}},
		{"/x?y=1", "pod-a", []string{"GET /x?y=1 HTTP/1.1"}},
		{"/healthz", "ok", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			first, _, _ := strings.Cut(string(b), "\n")
			if first != tt.wantFirst {
				t.Errorf("first line: got %q, want %q", first, tt.wantFirst)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(string(b), w) {
					t.Errorf("body lacks %q:\n%s", w, b)
				}
			}
		})
	}
}

// TestDrainOnShutdown starts the real server, holds a request open, stops
// the server and checks the request still completes and run returns nil.
func TestDrainOnShutdown(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, addr, "g", 0, io.Discard) }()
	var err error
	for i := 0; i < 100; i++ {
		var c net.Conn
		if c, err = net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	// UDP echo on the same port.
	uc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	uc.SetDeadline(time.Now().Add(2 * time.Second))
	uc.Write([]byte("ping"))
	buf := make([]byte, 100)
	n, err := uc.Read(buf)
	host, _ := os.Hostname()
	if err != nil || string(buf[:n]) != host+": ping" {
		t.Errorf("udp echo: got %q, %v; want %q", buf[:n], err, host+": ping")
	}
	uc.Close()

	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/?sleep=300ms")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if body := <-got; !strings.Contains(body, "GET /?sleep=300ms") {
		t.Errorf("in-flight request during shutdown: got %q", body)
	}
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if _, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		t.Error("still accepting after shutdown")
	}
}
