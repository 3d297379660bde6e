package kubelet

import (
	"os"
	"runtime/debug"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// agentMemoryLimit is the Go runtime's soft memory limit for the agent
// (GOMEMLIMIT overrides it): near it the collector runs more often and
// returns freed pages to the kernel sooner.
const agentMemoryLimit = 32 << 20

// tuneGC keeps the agent's heap close to its live data: a long-running node
// agent has little garbage between collections and its memory counts
// against the node. GOGC and GOMEMLIMIT, when set, win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(agentMemoryLimit)
	}
}

// dropManagedFields is an informer transform: the agent never reads
// managedFields, so cached objects do not keep them.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
