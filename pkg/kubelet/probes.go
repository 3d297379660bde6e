package kubelet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/kubernetes/pkg/probe"
	grpcprobe "k8s.io/kubernetes/pkg/probe/grpc"
)

type probeKind int

const (
	probeStartup probeKind = iota
	probeLiveness
	probeReadiness
)

func (k probeKind) String() string {
	return [...]string{"Startup", "Liveness", "Readiness"}[k]
}

func (k probeKind) of(c *v1.Container) *v1.Probe {
	return [...]*v1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe}[k]
}

// prober runs one probe of one container until its context ends, sending
// results to the worker when they change (readiness) or when a threshold
// is crossed (liveness, startup).
type prober struct {
	rt        Runtime
	kind      probeKind
	probe     *v1.Probe
	container *v1.Container
	id        string
	podIP     string
	started   *atomic.Bool // startup probe passed; gates liveness and readiness
	out       chan<- probeResult
}

func (p *prober) run(ctx context.Context) {
	pr := p.probe
	period := seconds(pr.PeriodSeconds, 10)
	timeout := seconds(pr.TimeoutSeconds, 1)
	failTh := int(pr.FailureThreshold)
	if failTh <= 0 {
		failTh = 3
	}
	okTh := int(pr.SuccessThreshold)
	if okTh <= 0 {
		okTh = 1
	}
	if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return
	}
	var oks, fails int
	reported := -1 // readiness: last reported value
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if p.kind == probeStartup || p.started == nil || p.started.Load() {
			err := p.once(ctx, timeout)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				oks++
				fails = 0
			} else {
				fails++
				oks = 0
			}
			switch p.kind {
			case probeStartup:
				if oks >= 1 {
					if p.started != nil {
						p.started.Store(true)
					}
					p.send(ctx, true, "")
					return
				}
				if fails >= failTh {
					p.send(ctx, false, err.Error())
					return
				}
			case probeLiveness:
				if fails >= failTh {
					p.send(ctx, false, err.Error())
					return
				}
			case probeReadiness:
				if oks >= okTh && reported != 1 {
					reported = 1
					p.send(ctx, true, "")
				}
				if fails >= failTh && reported != 0 {
					reported = 0
					p.send(ctx, false, err.Error())
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *prober) send(ctx context.Context, ok bool, msg string) {
	select {
	case p.out <- probeResult{name: p.container.Name, id: p.id, kind: p.kind, ok: ok, message: msg}:
	case <-ctx.Done():
	}
}

func (p *prober) once(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := p.probe.ProbeHandler
	switch {
	case h.Exec != nil:
		out := &execOutput{max: maxExecOutput}
		code, err := p.rt.Exec(ctx, p.id, ExecOptions{Cmd: h.Exec.Command, Stdout: out, Stderr: out})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("command %q exited with %d: %s", strings.Join(h.Exec.Command, " "), code, strings.TrimSpace(out.String()))
		}
		return nil
	case h.HTTPGet != nil:
		return httpGet(ctx, p.podIP, h.HTTPGet, p.container)
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, p.container)
		if err != nil {
			return err
		}
		host := p.podIP
		if h.TCPSocket.Host != "" {
			host = h.TCPSocket.Host
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("dial tcp %s: %w", net.JoinHostPort(host, strconv.Itoa(port)), err)
		}
		return conn.Close()
	case h.GRPC != nil:
		return grpcProbe(ctx, p.podIP, h.GRPC)
	}
	return fmt.Errorf("probe has no handler")
}

var probeTransport = &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	DisableKeepAlives: true,
	Proxy:             nil,
}

// httpGet performs an httpGet probe: 200-399 is success.
func httpGet(ctx context.Context, podIP string, g *v1.HTTPGetAction, c *v1.Container) error {
	req, err := httpGetRequest(ctx, podIP, g, c, "kube-probe/minik8s")
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: probeTransport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return fmt.Errorf("Get %q: %w", req.URL.String(), err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// httpGetRequest is the request of an httpGet probe or hook of c: to the
// pod's IP unless g names a host, g's headers (Host among them) added.
func httpGetRequest(ctx context.Context, podIP string, g *v1.HTTPGetAction, c *v1.Container, userAgent string) (*http.Request, error) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	host := podIP
	if g.Host != "" {
		host = g.Host
	}
	scheme := "http"
	if g.Scheme == v1.URISchemeHTTPS {
		scheme = "https"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	return req, nil
}

func resolvePort(p intstr.IntOrString, c *v1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	if c != nil {
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return int(cp.ContainerPort), nil
			}
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found in container ports", p.StrVal)
}

func seconds(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// grpcProbe is the kubelet's gRPC probe (upstream's prober): the
// grpc.health.v1 Check of the probe's service on the pod's IP and port,
// plain text, healthy when the answer is SERVING.
func grpcProbe(ctx context.Context, podIP string, g *v1.GRPCAction) error {
	timeout := time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	res, out, err := grpcprobe.New().Probe(podIP, service, int(g.Port), timeout, grpcprobe.ProbeOptions{})
	if err != nil {
		return err
	}
	if res != probe.Success {
		return errors.New(out)
	}
	return nil
}
