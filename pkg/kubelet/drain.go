package kubelet

import (
	"context"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// endpointDrain holds a deleted pod's SIGTERM back until the Service
// proxy no longer sends it new connections. Kubernetes stops containers
// as soon as a pod is deleted, while every node's proxy is still
// removing the pod's endpoint: for a moment connections reach a server
// that has stopped accepting, which is why its users are told to add a
// `preStop: sleep`. Here the agent waits until its own proxy has written
// rules without the pod's address (the EndpointSlice marked it
// terminating, and every node's proxy got the same change), then a
// margin for the other nodes' proxies to write theirs; never longer than
// bound, and never past the pod's grace period.
type endpointDrain struct {
	// serves is the node's proxy's answer to "do the rules send new
	// connections to ip?"; unset while the proxy is not running.
	serves atomic.Pointer[func(ip string) bool]
	// bound caps the whole wait, margin is the time left to the other
	// nodes' proxies once this one is done, poll how often it asks.
	bound, margin, poll time.Duration
}

func newEndpointDrain() *endpointDrain {
	return &endpointDrain{bound: 2 * time.Second, margin: 250 * time.Millisecond, poll: 20 * time.Millisecond}
}

// setProxy is called once the proxy runs.
func (d *endpointDrain) setProxy(serves func(ip string) bool) { d.serves.Store(&serves) }

// wait blocks until the pod at ip is out of the proxy's rules (plus the
// margin), for at most min(bound, grace). It returns how long it waited
// and whether the address left the rules in time.
func (d *endpointDrain) wait(ctx context.Context, ip string, grace time.Duration) (time.Duration, bool) {
	if d == nil || ip == "" {
		return 0, true
	}
	f := d.serves.Load()
	if f == nil || !(*f)(ip) {
		// No proxy, or no Service sends it anything: nothing to drain.
		return 0, true
	}
	start := time.Now()
	limit := min(d.bound, grace)
	tick := time.NewTicker(d.poll)
	defer tick.Stop()
	for (*f)(ip) {
		if time.Since(start) >= limit {
			return time.Since(start), false
		}
		select {
		case <-ctx.Done():
			return time.Since(start), false
		case <-tick.C:
		}
	}
	if left := limit - time.Since(start); left > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(min(d.margin, left)):
		}
	}
	return time.Since(start), true
}

// drainBeforeStop waits for the proxy to drop a pod being deleted (see
// endpointDrain); a restart, an eviction by the agent itself or a pod
// that is not being deleted stops at once.
func (w *podWorker) drainBeforeStop(ctx context.Context, deleting bool, grace time.Duration) {
	if !deleting || w.deps.drain == nil || w.sandbox == nil {
		return
	}
	waited, drained := w.deps.drain.wait(ctx, w.sandbox.IP, grace)
	if waited > 0 {
		klog.FromContext(ctx).V(2).Info("held SIGTERM until the Service proxy dropped the pod", "pod", w.uid, "waited", waited, "drained", drained)
	}
}
