package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
)

// hookClient makes the HTTP requests of lifecycle hooks as the kubelet's
// insecureContainerLifecycleHTTPClient: no TLS verification (there is
// nothing to verify against), no redirects followed, no credentials.
var hookClient = &http.Client{
	Transport:     probeTransport,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// maxExecOutput is how much of an exec probe's or hook's output is kept,
// as the kubelet's exec prober keeps (maxReadLength).
const maxExecOutput = 10 << 10

// execOutput keeps the first max bytes of a command's stdout and stderr and
// drops the rest, taking every write whole so that the command never
// blocks on a pipe no one reads. containerd copies the two streams from
// goroutines of their own, hence the lock.
type execOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (o *execOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if room := o.max - o.buf.Len(); room > 0 {
		o.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (o *execOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// runHook runs lifecycle handler h of container c (running as id) as the
// kubelet's handlerRunner does: a command in the container (failing when it
// exits non-zero), an HTTP GET to the pod's IP unless h names a host (any
// answer is a success; only a request that fails is a failure), or a
// sleep. The message says what failed, for the log: the Events say only
// which hook failed, so that nothing secret leaks into them.
func (w *podWorker) runHook(ctx context.Context, pod *v1.Pod, c *v1.Container, id string, h *v1.LifecycleHandler) (string, error) {
	switch {
	case h.Exec != nil:
		// The command's output is kept for the message, as the kubelet's
		// ExecSync keeps it; without writers its stdout and stderr would
		// be /dev/null opened for reading, and a command that prints
		// (curl does) would fail writing.
		out := &execOutput{max: maxExecOutput}
		code, err := w.deps.rt.Exec(ctx, id, ExecOptions{Cmd: h.Exec.Command, Stdout: out, Stderr: out})
		if err == nil && code != 0 {
			err = fmt.Errorf("command '%v' exited with %d", h.Exec.Command, code)
		}
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, c.Name, klog.KObj(pod), err, out.String()), err
		}
	case h.HTTPGet != nil:
		podIP := ""
		if w.sandbox != nil {
			podIP = w.sandbox.IP
		}
		err := hookGet(ctx, podIP, h.HTTPGet, c)
		if err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, klog.KObj(pod), err), err
		}
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		case <-ctx.Done():
			err := fmt.Errorf("container terminated before sleep hook finished")
			return fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v", h.Sleep.Seconds, c.Name, klog.KObj(pod), err), err
		}
	default:
		err := fmt.Errorf("invalid handler: %v", h)
		return fmt.Sprintf("Cannot run handler: %v", err), err
	}
	return "", nil
}

// hookGet makes the request of an httpGet hook.
func hookGet(ctx context.Context, podIP string, g *v1.HTTPGetAction, c *v1.Container) error {
	if g.Host == "" && podIP == "" {
		return fmt.Errorf("failed to find networking container")
	}
	req, err := httpGetRequest(ctx, podIP, g, c, "kube-lifecycle/minik8s")
	if err != nil {
		return err
	}
	resp, err := hookClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	return resp.Body.Close()
}

// postStart runs c's postStart hook right after its start, as the kubelet
// does before it goes on with the pod. When the hook fails, the container
// is killed (a FailedPostStartHook event) and its exit then follows the
// restart policy like any other.
func (w *podWorker) postStart(ctx context.Context, pod *v1.Pod, c *v1.Container, st *ctrState) {
	if c.Lifecycle == nil || c.Lifecycle.PostStart == nil {
		return
	}
	msg, err := w.runHook(ctx, pod, c, st.id, c.Lifecycle.PostStart)
	if err == nil {
		return
	}
	klog.FromContext(ctx).Error(err, "postStart hook failed", "container", c.Name, "message", msg)
	ref := containerRef(pod, c.Name, isInit(pod, c.Name))
	w.deps.recorder.Event(ref, v1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed")
	w.deps.recorder.Eventf(ref, v1.EventTypeNormal, "Killing", "FailedPostStartHook")
	grace := podGrace(pod)
	w.preStop(ctx, pod, c, st, grace)
	if err := w.deps.rt.StopContainer(ctx, st.id, grace); err != nil {
		klog.FromContext(ctx).Error(err, "stopping container whose postStart hook failed", "container", c.Name)
	}
}
