package kubelet

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestEndpointDrain: the wait ends once the proxy no longer serves the
// address (plus the margin), at the bound if it never stops, at once with
// no proxy or an address no Service uses.
func TestEndpointDrain(t *testing.T) {
	d := &endpointDrain{bound: 300 * time.Millisecond, margin: 30 * time.Millisecond, poll: 5 * time.Millisecond}
	ctx := context.Background()
	if waited, ok := d.wait(ctx, "10.244.1.5", time.Minute); waited != 0 || !ok {
		t.Errorf("no proxy: waited %s (%v), want no wait", waited, ok)
	}
	var calls atomic.Int32
	served := map[string]int32{"10.244.1.5": 4, "10.244.1.6": 1 << 30}
	d.setProxy(func(ip string) bool {
		n := calls.Add(1)
		return n <= served[ip]
	})
	if waited, ok := d.wait(ctx, "10.244.1.9", time.Minute); waited != 0 || !ok {
		t.Errorf("address no Service uses: waited %s (%v), want no wait", waited, ok)
	}
	calls.Store(0)
	waited, ok := d.wait(ctx, "10.244.1.5", time.Minute)
	if !ok || calls.Load() < 5 || waited < d.margin {
		t.Errorf("served 4 times: waited %s (%v) over %d calls, want drained after the 5th call and the margin", waited, ok, calls.Load())
	}
	calls.Store(0)
	if waited, ok := d.wait(ctx, "10.244.1.6", time.Minute); ok || waited < d.bound {
		t.Errorf("never dropped: waited %s (%v), want the bound %s, not drained", waited, ok, d.bound)
	}
	calls.Store(0)
	if waited, ok := d.wait(ctx, "10.244.1.6", 50*time.Millisecond); ok || waited < 50*time.Millisecond {
		t.Errorf("grace 50ms: waited %s (%v), want the grace, not drained", waited, ok)
	}
	var nilDrain *endpointDrain
	if waited, ok := nilDrain.wait(ctx, "10.244.1.5", time.Minute); waited != 0 || !ok {
		t.Errorf("agent without proxy: waited %s (%v)", waited, ok)
	}
}
