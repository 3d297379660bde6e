package kubelet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"minik8s/pkg/cgroup"
	"minik8s/pkg/cgroup/cgrouptest"
)

// TestRemoveCgroupsV2 checks the clean-up of a pod's cgroups on cgroup v2,
// whatever the host's layout, on a cgroup2 mounted on a temporary
// directory: runc leaves /minik8s/<node>/<pod uid>/<container> behind,
// and removeCgroups must take the pod's and its containers' away and leave
// the node's other pods alone.
func TestRemoveCgroupsV2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts cgroup2")
	}
	mnt := cgrouptest.MountV2(t)
	root := filepath.Join(mnt, fmt.Sprintf("minik8s-kubelettest-%d", os.Getpid()))
	for _, d := range []string{"minik8s/node1/pod-a/ctr1", "minik8s/node1/pod-a/ctr2", "minik8s/node1/pod-b/ctr1"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range []string{"minik8s/node1/pod-b/ctr1", "minik8s/node1/pod-b", "minik8s/node1", "minik8s", ""} {
			os.Remove(filepath.Join(root, d))
		}
	})
	saved := hostCgroups
	hostCgroups = func() (*cgroup.FS, error) { return cgroup.Detect(root) }
	t.Cleanup(func() { hostCgroups = saved })

	removeCgroups("/minik8s/node1/pod-a")
	tests := []struct {
		dir  string
		want bool
	}{
		{"minik8s/node1/pod-a", false},
		{"minik8s/node1/pod-b/ctr1", true},
	}
	for _, tt := range tests {
		_, err := os.Stat(filepath.Join(root, tt.dir))
		if got := err == nil; got != tt.want {
			t.Errorf("%s exists: got %v, want %v (%v)", tt.dir, got, tt.want, err)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Error(err)
		}
	}
}
