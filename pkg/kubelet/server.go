package kubelet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/containerd/errdefs"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"minik8s/pkg/containerlog"
)

// apiServer is the agent's HTTP API.
type apiServer struct {
	srv  *http.Server
	port int32
	addr string
}

func (s *apiServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// podSource finds pods and their current containers for logs and exec.
type podSource interface {
	findPod(ns, name string) *v1.Pod
}

type handler struct {
	pods podSource
	rt   Runtime
	// running reports whether container id's task is running.
	running func(ctx context.Context, id string) bool
	// taskGone reports whether container id has no task (any more).
	taskGone func(ctx context.Context, id string) bool
	// stats serves /metrics/resource (stats.go); nil: not served.
	stats http.Handler
	// podNetwork is where CONNECT tunnels may lead (tunnel.go); empty:
	// nowhere.
	podNetwork []*net.IPNet
}

func (a *Agent) serve(ctx context.Context) (*apiServer, error) {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", a.cfg.Listen, err)
	}
	h := &handler{pods: a, rt: a.rt, running: a.rt.isRunning, taskGone: a.rt.taskGone, stats: &resourceStats{
		fs: detectedCgroups(),
		// The parent of every pod's cgroup.
		nodeCgroup: path.Dir(a.rt.cgroupParent("")),
		pods: func() []*v1.Pod {
			if a.podList == nil {
				return nil
			}
			return a.podList()
		},
		podCgroup: func(pod *v1.Pod) string { return a.rt.cgroupParent(pod.UID) },
		now:       time.Now,
	}}
	for _, c := range []string{a.cfg.ClusterCIDR, a.cfg.PodCIDR} {
		if _, n, err := net.ParseCIDR(c); err == nil {
			h.podNetwork = append(h.podNetwork, n)
		}
	}
	srv := &http.Server{Handler: allowPeers(a.cfg.AllowedPeers, h.mux()), ReadHeaderTimeout: 10 * time.Second}
	if a.secure != nil {
		// As the kubelet's: TLS, and every request authenticated and
		// authorized (identity.go).
		srv.Handler = a.secure.filter(h.mux())
		ln = tls.NewListener(ln, a.secure.tls)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.FromContext(ctx).Error(err, "agent API stopped")
		}
	}()
	return &apiServer{srv: srv, port: int32(ln.Addr().(*net.TCPAddr).Port), addr: ln.Addr().String()}, nil
}

func (r *containerdRuntime) isRunning(ctx context.Context, id string) bool {
	_, task, err := r.task(r.nsCtx(ctx), id)
	if err != nil {
		return false
	}
	st, err := task.Status(r.nsCtx(ctx))
	return err == nil && st.Status == "running"
}

func (r *containerdRuntime) taskGone(ctx context.Context, id string) bool {
	_, _, err := r.task(r.nsCtx(ctx), id)
	return errdefs.IsNotFound(err)
}

// allowPeers answers only loopback and the allowed addresses until the API
// has real authentication.
func allowPeers(peers []string, next http.Handler) http.Handler {
	allowed := map[string]bool{}
	for _, p := range peers {
		allowed[net.ParseIP(p).String()] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		host, _, err := net.SplitHostPort(req.RemoteAddr)
		ip := net.ParseIP(host)
		if err != nil || ip == nil || !(ip.IsLoopback() || allowed[ip.String()]) {
			http.Error(w, "forbidden: this agent answers only its API server", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, req)
	})
}

func (h *handler) mux() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	m.Handle("GET /metrics", promhttp.Handler())
	if h.stats != nil {
		m.Handle("GET /metrics/resource", h.stats)
	}
	m.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", h.logs)
	m.HandleFunc("/exec/{ns}/{pod}/{container}", h.exec)
	m.HandleFunc("/portForward/{ns}/{pod}", h.portForward)
	m.HandleFunc("/attach/{ns}/{pod}/{container}", h.attach)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// A CONNECT names its target, not a path: no pattern matches it.
		if req.Method == http.MethodConnect {
			h.tunnel(w, req)
			return
		}
		m.ServeHTTP(w, req)
	})
}

// attempts lists the attempts of a container that have a log file, oldest
// first.
func attempts(rt Runtime, uid types.UID, container string) []int {
	dir := filepath.Dir(rt.LogPath(uid, container, 0))
	entries, _ := os.ReadDir(dir)
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(trimSuffix(e.Name(), ".log"))
		if err == nil {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

func trimSuffix(s, suf string) string {
	if len(s) >= len(suf) && s[len(s)-len(suf):] == suf {
		return s[:len(s)-len(suf)]
	}
	return s + "?"
}

func (h *handler) lookup(w http.ResponseWriter, req *http.Request) (*v1.Pod, string, bool) {
	ns, name, container := req.PathValue("ns"), req.PathValue("pod"), req.PathValue("container")
	pod := h.pods.findPod(ns, name)
	if pod == nil {
		http.Error(w, fmt.Sprintf("pod %s/%s not found on this node", ns, name), http.StatusNotFound)
		return nil, "", false
	}
	if findContainer(pod, container) == nil {
		http.Error(w, fmt.Sprintf("container %s is not valid for pod %s", container, name), http.StatusBadRequest)
		return nil, "", false
	}
	return pod, container, true
}

func (h *handler) logs(w http.ResponseWriter, req *http.Request) {
	pod, container, ok := h.lookup(w, req)
	if !ok {
		return
	}
	q := req.URL.Query()
	follow, _ := strconv.ParseBool(q.Get("follow"))
	previous, _ := strconv.ParseBool(q.Get("previous"))
	tail := int64(-1)
	if v := q.Get("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			http.Error(w, "tailLines must be a non-negative integer", http.StatusBadRequest)
			return
		}
		tail = n
	}
	limit := int64(-1)
	if v := q.Get("limitBytes"); v != "" {
		limit, _ = strconv.ParseInt(v, 10, 64)
	}
	opts, err := logOptions(q, time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	at := attempts(h.rt, pod.UID, container)
	if previous {
		if len(at) < 2 {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", container, pod.Name), http.StatusBadRequest)
			return
		}
		at = at[:len(at)-1]
	}
	if len(at) == 0 {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, pod.Name), http.StatusBadRequest)
		return
	}
	attempt := at[len(at)-1]
	path := h.rt.LogPath(pod.UID, container, attempt)
	f, err := os.Open(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain")
	var out io.Writer = w
	if limit > 0 {
		out = &limitWriter{w: w, n: limit}
	}
	if tail >= 0 {
		if err := seekTail(f, tail); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	lr := containerlog.NewReader(f, opts)
	if _, err := lr.WriteTo(out); err != nil {
		return
	}
	if !follow || previous {
		return
	}
	flusher, _ := w.(http.Flusher)
	id := containerID(pod, container, attempt)
	for {
		if flusher != nil {
			flusher.Flush()
		}
		// Once the task is deleted its logger has exited, having written
		// all the container's output: one last read and the stream ends.
		gone := h.taskGone(req.Context(), id)
		if _, err := lr.WriteTo(out); err != nil || gone {
			return
		}
		select {
		case <-req.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logOptions reads timestamps, sinceSeconds and sinceTime.
func logOptions(q url.Values, now time.Time) (containerlog.Options, error) {
	var opts containerlog.Options
	if v := q.Get("timestamps"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return opts, fmt.Errorf("timestamps must be true or false, not %q", v)
		}
		opts.Timestamps = b
	}
	secs, since := q.Get("sinceSeconds"), q.Get("sinceTime")
	switch {
	case secs != "" && since != "":
		return opts, errors.New("at most one of sinceTime or sinceSeconds may be specified")
	case secs != "":
		n, err := strconv.ParseInt(secs, 10, 64)
		if err != nil || n <= 0 {
			return opts, fmt.Errorf("sinceSeconds must be a positive integer, not %q", secs)
		}
		opts.Since = now.Add(-time.Duration(n) * time.Second)
	case since != "":
		t, err := time.Parse(time.RFC3339, since)
		if err != nil {
			return opts, fmt.Errorf("sinceTime must be an RFC 3339 time, not %q", since)
		}
		opts.Since = t
	}
	return opts, nil
}

type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	return n, err
}

// seekTail positions f at the start of its last n lines.
func seekTail(f *os.File, n int64) error {
	if n == 0 {
		_, err := f.Seek(0, io.SeekEnd)
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	const chunk = 8192
	var lines int64
	pos := size
	// A final newline ends the last line rather than starting a new one.
	first := true
	for pos > 0 {
		start := max(pos-chunk, 0)
		b := make([]byte, pos-start)
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' {
				first = false
				continue
			}
			if first && start+int64(i) == size-1 {
				first = false
				continue
			}
			lines++
			if lines == n {
				_, err := f.Seek(start+int64(i)+1, io.SeekStart)
				return err
			}
		}
		pos = start
	}
	_, err = f.Seek(0, io.SeekStart)
	return err
}

func (h *handler) exec(w http.ResponseWriter, req *http.Request) {
	pod, container, ok := h.lookup(w, req)
	if !ok {
		return
	}
	p, err := parseExecParams(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	at := attempts(h.rt, pod.UID, container)
	if len(at) == 0 {
		http.Error(w, fmt.Sprintf("container %s is not running", container), http.StatusBadRequest)
		return
	}
	id := containerID(pod, container, at[len(at)-1])
	if !h.running(req.Context(), id) {
		http.Error(w, fmt.Sprintf("container %s is not running", container), http.StatusBadRequest)
		return
	}
	serveExec(w, req, p, func(ctx context.Context, opts ExecOptions) (int, error) {
		return h.rt.Exec(ctx, id, opts)
	})
}
