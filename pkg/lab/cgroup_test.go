package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"minik8s/pkg/cgroup"
	"minik8s/pkg/cgroup/cgrouptest"
)

// TestLabCgroupsV2 runs the lab's cgroup handling on cgroup v2 whatever the
// host's layout: a cgroup2 file system is mounted on a temporary directory
// and the lab's cgroups are rooted in a cgroup of the test's own there.
// Real processes stand for a component, an agent, a shim and a container;
// `lab node stop` (killCgroup of the node) must kill the container alone,
// `lab down` (killCgroup of the lab) the rest, and nothing may be left.
func TestLabCgroupsV2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts cgroup2 and moves processes between cgroups")
	}
	mnt := cgrouptest.MountV2(t)
	root := filepath.Join(mnt, fmt.Sprintf("minik8s-labtest-%d", os.Getpid()))
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(root) })
	c, err := cgroup.Detect(root)
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != cgroup.V2 {
		t.Fatalf("got %s at %s, want %s", c.Mode, root, cgroup.V2)
	}
	saved := hostCgroups
	hostCgroups = func() (*cgroup.FS, error) { return c, nil }
	t.Cleanup(func() { hostCgroups = saved })

	node := Node{Index: 1}
	start := func() *exec.Cmd {
		cmd := exec.Command("/bin/sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	procs := map[string]*exec.Cmd{}
	for _, rel := range []string{"apiserver", "containerd", "agents/kubelet-node1"} {
		procs[rel] = start()
		if err := joinCgroup(procs[rel].Process.Pid, rel); err != nil {
			t.Fatalf("joining %s: %v", rel, err)
		}
	}
	// A container where runc puts it: cgroupsPath /minik8s/node1/<uid>/<id>.
	ctr := start()
	if err := c.Join(ctr.Process.Pid, "/"+nodeCgroup(node)+"/pod-uid/ctr"); err != nil {
		t.Fatal(err)
	}
	if got, want := cgroupPids(nodeCgroup(node)), []int{ctr.Process.Pid}; !slices.Equal(got, want) {
		t.Fatalf("got pids %v in %s, want %v", got, nodeCgroup(node), want)
	}
	if got := len(cgroupPids(labCgroup)); got != 3 {
		t.Fatalf("got %d pids in %s, want 3", got, labCgroup)
	}

	n, err := killCgroup(nodeCgroup(node))
	if err != nil || n != 1 {
		t.Fatalf("killing %s: got %d, %v, want 1, nil", nodeCgroup(node), n, err)
	}
	if err := ctr.Wait(); !cgrouptest.Killed(err) {
		t.Errorf("the container ended with %v, want killed", err)
	}
	for rel, cmd := range procs {
		if syscall.Kill(cmd.Process.Pid, 0) != nil {
			t.Errorf("%s died with the node", rel)
		}
	}
	removeEmptyCgroup(nodesCgroup)

	n, err = killCgroup(labCgroup)
	if err != nil || n != 3 {
		t.Fatalf("killing %s: got %d, %v, want 3, nil", labCgroup, n, err)
	}
	for rel, cmd := range procs {
		if err := cmd.Wait(); !cgrouptest.Killed(err) {
			t.Errorf("%s ended with %v, want killed", rel, err)
		}
	}
	for _, rel := range []string{labCgroup, nodesCgroup} {
		if _, err := os.Stat(filepath.Join(root, rel)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s/%s still there (%v)", root, rel, err)
		}
	}
	if left := cgroupPids(labCgroup); len(left) > 0 {
		t.Errorf("got %v left in %s, want none", left, labCgroup)
	}
}
