package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// podNetwork dials pod addresses for pods/proxy and services/proxy.
// kube-apiserver dials pod IPs directly, or through its egress selector's
// "cluster" network (HTTP CONNECT to konnectivity agents on the nodes)
// when its host cannot route to them; minik8s's host cannot (the lab's
// network rule), so an address inside a Node's spec.podCIDRs is reached
// through an HTTP CONNECT tunnel of that node's agent, over the
// connection logs and exec use. Other addresses are dialled directly.
type podNetwork struct {
	// nodes lists the Nodes whose pod ranges are looked up: cached is
	// the informer's copy, stored reads etcd when the cache has no node
	// for an address (a Node made a moment ago).
	cached, stored func(ctx context.Context) ([]*corev1.Node, error)
	// agentURL is a node agent's base URL (kubeletURL).
	agentURL func(node *corev1.Node) (*url.URL, error)
	// agentTLS is the client TLS configuration for an https agent.
	agentTLS *tls.Config
	dialer   net.Dialer
}

// connectTimeout bounds the agent's answer to a CONNECT when the
// request has no deadline of its own.
const connectTimeout = 30 * time.Second

// newPodTransport is upstream's proxy transport (TLS to backends
// unverified, as kube-apiserver's without --proxy-client-cert-file) on
// the pod network.
func (s *Server) newPodTransport() http.RoundTripper {
	var agentTLS *tls.Config
	if t, ok := s.kubeletTransport.(*http.Transport); ok && s.kubeletTLS {
		agentTLS = t.TLSClientConfig
	}
	nodes, _ := api.Lookup("", "v1", "nodes")
	pn := &podNetwork{
		// The loopback's Node informer (the Node authorizer's, made
		// after this transport): a dial reads memory, not etcd.
		cached: func(context.Context) ([]*corev1.Node, error) {
			return s.loopback.factory.Core().V1().Nodes().Lister().List(labels.Everything())
		},
		stored: func(ctx context.Context) ([]*corev1.Node, error) {
			res, err := s.store.List(ctx, storage.Prefix(nodes.StorageName(), ""), nodes.New, storage.ListOptions{})
			if err != nil {
				return nil, err
			}
			out := make([]*corev1.Node, 0, len(res.Items))
			for _, obj := range res.Items {
				out = append(out, obj.(*corev1.Node))
			}
			return out, nil
		},
		agentURL: func(node *corev1.Node) (*url.URL, error) { return s.kubeletURL(node, "") },
		agentTLS: agentTLS,
	}
	t := utilnet.SetTransportDefaults(&http.Transport{
		DialContext:     pn.DialContext,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as kube-apiserver's proxy transport
		IdleConnTimeout: 90 * time.Second,
	})
	// Pods are reached directly or through their agent, never through
	// the environment's HTTP proxy (as the kubelet transport).
	t.Proxy = nil
	return t
}

// DialContext dials addr, through the agent of the node whose pod range
// holds it if any.
func (p *podNetwork) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return p.dialer.DialContext(ctx, network, addr)
	}
	var node *corev1.Node
	for _, list := range []func(context.Context) ([]*corev1.Node, error){p.cached, p.stored} {
		nodes, err := list(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing nodes to find the pod network of %s: %w", host, err)
		}
		if node = nodeOfPodIP(nodes, ip); node != nil {
			break
		}
	}
	if node == nil {
		return p.dialer.DialContext(ctx, network, addr)
	}
	agent, err := p.agentURL(node)
	if err != nil {
		return nil, err
	}
	return p.tunnel(ctx, node.Name, agent, addr)
}

// nodeOfPodIP is the node whose spec.podCIDRs (or podCIDR) holds ip.
func nodeOfPodIP(nodes []*corev1.Node, ip net.IP) *corev1.Node {
	for _, node := range nodes {
		cidrs := node.Spec.PodCIDRs
		if len(cidrs) == 0 && node.Spec.PodCIDR != "" {
			cidrs = []string{node.Spec.PodCIDR}
		}
		for _, c := range cidrs {
			if _, n, err := net.ParseCIDR(c); err == nil && n.Contains(ip) {
				return node
			}
		}
	}
	return nil
}

// tunnel opens a connection to target through agent's HTTP CONNECT.
func (p *podNetwork) tunnel(ctx context.Context, nodeName string, agent *url.URL, target string) (net.Conn, error) {
	conn, err := p.dialer.DialContext(ctx, "tcp", agent.Host)
	if err != nil {
		return nil, fmt.Errorf("dialling the agent of node %s: %w", nodeName, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(connectTimeout)
	}
	_ = conn.SetDeadline(deadline)
	if agent.Scheme == "https" {
		tc := &tls.Config{}
		if p.agentTLS != nil {
			tc = p.agentTLS.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = agent.Hostname()
		}
		// The CONNECT is HTTP/1.1's (the kubelet transport's
		// configuration may offer h2).
		tc.NextProtos = []string{"http/1.1"}
		tconn := tls.Client(conn, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS with the agent of node %s: %w", nodeName, err)
		}
		conn = tconn
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if err := req.Write(conn); err != nil {
		conn.Close()
		return nil, fmt.Errorf("asking the agent of node %s for a tunnel to %s: %w", nodeName, target, err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("asking the agent of node %s for a tunnel to %s: %w", nodeName, target, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		conn.Close()
		return nil, fmt.Errorf("the agent of node %s refused a tunnel to %s: %s: %s", nodeName, target, resp.Status, msg)
	}
	_ = conn.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: conn, r: br}, nil
	}
	return conn, nil
}

// bufferedConn is a connection whose first bytes were read ahead.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(b []byte) (int, error) { return c.r.Read(b) }
