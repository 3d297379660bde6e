package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/klog/v2"
)

// tunnel answers an HTTP CONNECT to a pod address: the API server's way
// to the pod network for pods/proxy and services/proxy, which its host
// cannot route to (what a konnectivity agent does for kube-apiserver's
// egress selector). Only addresses of the cluster's pod range are
// reached; the agent's authorization (nodes/proxy) comes first.
func (h *handler) tunnel(w http.ResponseWriter, req *http.Request) {
	target := req.Host
	host, _, err := net.SplitHostPort(target)
	ip := net.ParseIP(host)
	if err != nil || ip == nil {
		http.Error(w, fmt.Sprintf("CONNECT needs a pod address as IP:port, not %q", target), http.StatusBadRequest)
		return
	}
	if !h.inPodNetwork(ip) {
		http.Error(w, fmt.Sprintf("%s is not in the pod network: this agent tunnels only to pods", host), http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	var d net.Dialer
	backend, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		http.Error(w, fmt.Sprintf("dialling %s: %v", target, err), http.StatusServiceUnavailable)
		return
	}
	defer backend.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "CONNECT is not supported over this connection", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		klog.FromContext(req.Context()).Error(err, "hijacking a CONNECT", "target", target)
		return
	}
	defer client.Close()
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// Bytes the client sent after its request, read ahead by the server.
	if n := buf.Reader.Buffered(); n > 0 {
		ahead, _ := buf.Reader.Peek(n)
		if _, err := backend.Write(ahead); err != nil {
			return
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(backend, client)
		closeWrite(backend)
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(client, backend)
		closeWrite(client)
	}()
	wg.Wait()
}

func (h *handler) inPodNetwork(ip net.IP) bool {
	for _, n := range h.podNetwork {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// closeWrite ends the sending half of c when it has one (TCP, TLS),
// so that the other side sees the end of the stream.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}
