package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// protoPortForward is the SPDY subprotocol of the kubelet's port forwarding
// (client-go's tools/portforward speaks it directly, or tunnelled through a
// WebSocket that the API server unwraps).
const protoPortForward = "portforward.k8s.io"

// portForward serves /portForward/{ns}/{pod}: each forwarded connection
// arrives as a pair of SPDY streams (error and data) sharing a requestID,
// and the data stream is joined to a TCP connection to the pod's IP on the
// stream's port. The agent dials the pod IP from the node's namespace,
// which routes to every pod on the bridge, rather than entering the
// sandbox's network namespace: the same port is reached either way for
// anything listening on the pod IP or on all addresses; a server bound to
// the pod's loopback only is not reachable this way.
func (h *handler) portForward(w http.ResponseWriter, req *http.Request) {
	ns, name := req.PathValue("ns"), req.PathValue("pod")
	pod := h.pods.findPod(ns, name)
	if pod == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s not found on this node", ns, name), http.StatusNotFound)
		return
	}
	if pod.Status.PodIP == "" {
		http.Error(w, fmt.Sprintf("pod %s/%s has no IP yet", ns, name), http.StatusBadRequest)
		return
	}
	if _, err := httpstream.Handshake(req, w, []string{protoPortForward}); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	streams := make(chan httpstream.Stream, 8)
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, req, func(s httpstream.Stream, _ <-chan struct{}) error {
		if err := checkForwardStream(s); err != nil {
			return err
		}
		streams <- s
		return nil
	})
	if conn == nil {
		return
	}
	defer conn.Close()
	conn.SetIdleTimeout(4 * time.Hour)
	servePortForward(req.Context(), conn, streams, pod, pod.Status.PodIP)
}

func checkForwardStream(s httpstream.Stream) error {
	port := s.Headers().Get(v1.PortHeader)
	if port == "" {
		return fmt.Errorf("%q header is required", v1.PortHeader)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n < 1 {
		return fmt.Errorf("port %q must be a number from 1 to 65535", port)
	}
	switch t := s.Headers().Get(v1.StreamType); t {
	case v1.StreamTypeError, v1.StreamTypeData:
		return nil
	default:
		return fmt.Errorf("invalid stream type %q", t)
	}
}

// streamPair is one forwarded connection's two streams.
type streamPair struct {
	data, errs httpstream.Stream
}

// servePortForward pairs streams by requestID until the connection closes
// and forwards each complete pair.
func servePortForward(ctx context.Context, conn httpstream.Connection, streams <-chan httpstream.Stream, pod *v1.Pod, ip string) {
	pending := map[string]*streamPair{}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Once the client's connection is gone, the pod connections go too.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		select {
		case <-conn.CloseChan():
			return
		case <-ctx.Done():
			return
		case s := <-streams:
			id := s.Headers().Get(v1.PortForwardRequestIDHeader)
			p := pending[id]
			if p == nil {
				p = &streamPair{}
				pending[id] = p
			}
			if s.Headers().Get(v1.StreamType) == v1.StreamTypeError {
				p.errs = s
			} else {
				p.data = s
			}
			if p.data == nil || p.errs == nil {
				continue
			}
			delete(pending, id)
			wg.Add(1)
			go func() {
				defer wg.Done()
				forwardPair(ctx, p, pod, ip)
			}()
		}
	}
}

// forwardPair joins the data stream to the pod's port; a failure is told on
// the error stream in the kubelet's words.
func forwardPair(ctx context.Context, p *streamPair, pod *v1.Pod, ip string) {
	defer p.errs.Close()
	defer p.data.Close()
	port, _ := strconv.Atoi(p.data.Headers().Get(v1.PortHeader))
	if err := forwardTCP(ctx, net.JoinHostPort(ip, strconv.Itoa(port)), p.data); err != nil {
		msg := fmt.Sprintf("error forwarding port %d to pod %s, uid %v: %v", port, pod.Name, pod.UID, err)
		klog.FromContext(ctx).V(2).Info("port-forward failed", "pod", klog.KObj(pod), "err", msg)
		_, _ = io.WriteString(p.errs, msg)
	}
}

// forwardTCP copies between stream and a new connection to addr until the
// pod's side ends; the client's end of input half-closes the connection.
func forwardTCP(ctx context.Context, addr string, stream io.ReadWriter) error {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, err := d.DialContext(dctx, "tcp", addr)
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Close()
		case <-done:
		}
	}()
	go func() {
		_, _ = io.Copy(c, stream)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	if _, err := io.Copy(stream, c); err != nil {
		return fmt.Errorf("copying from the pod: %w", err)
	}
	return nil
}
