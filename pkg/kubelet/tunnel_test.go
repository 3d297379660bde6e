package kubelet

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The API server reaches pods through the agent's CONNECT tunnel
// (pods/proxy, services/proxy): only to the pod network, with the
// bytes both ways and the end of the stream passed on.
func TestTunnel(t *testing.T) {
	pod := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	defer pod.Close()
	// Here the pod network is loopback, where the stand-in pod listens.
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	agent := httptest.NewServer((&handler{podNetwork: []*net.IPNet{loopback}}).mux())
	defer agent.Close()

	tests := []struct {
		name     string
		target   string
		wantCode int
	}{
		{"to a pod", pod.Listener.Addr().String(), http.StatusOK},
		{"outside the pod network", "10.96.0.1:443", http.StatusForbidden},
		{"not an address", "example.com:80", http.StatusBadRequest},
		{"nothing listens", closedPort(t), http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", agent.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// The CONNECT and the first request in one write: the
			// agent must pass on what it read ahead.
			fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\nGET /hello HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n", tt.target, tt.target)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("got %s, want %d", resp.Status, tt.wantCode)
			}
			if tt.wantCode != http.StatusOK {
				return
			}
			inner, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(inner.Body)
			if string(body) != "GET /hello" {
				t.Fatalf("got %q through the tunnel, want %q", body, "GET /hello")
			}
			// The pod closed (Connection: close): so does the tunnel.
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("got %d bytes, %v after the pod closed, want EOF", n, err)
			}
		})
	}
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
