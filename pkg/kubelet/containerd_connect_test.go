package kubelet

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An agent started while containerd is down waits for it (as the kubelet
// waits for its runtime) rather than exiting at once; only the end of its
// context ends the wait, with the connection's error.
func TestConnectContainerdWaits(t *testing.T) {
	cfg := &Config{ContainerdAddress: filepath.Join(t.TempDir(), "containerd.sock"), ContainerdNamespace: "test"}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start := time.Now()
	_, err := connectContainerd(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "connecting to containerd at "+cfg.ContainerdAddress) {
		t.Fatalf("got %v, want the connection's error once the context ended", err)
	}
	if waited := time.Since(start); waited < 3*time.Second {
		t.Errorf("gave up after %s, want a wait until the context ended (3 s)", waited)
	}
}
