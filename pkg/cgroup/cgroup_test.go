package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"minik8s/pkg/cgroup/cgrouptest"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts cgroup2 and moves processes between cgroups")
	}
}

// mountV2 is a cgroup2 hierarchy of the test's (cgrouptest.MountV2).
func mountV2(t *testing.T) string { return cgrouptest.MountV2(t) }

// hostMode reads the layout at Root from /proc/self/mounts, apart from
// Detect's statfs.
func hostMode(t *testing.T) Mode {
	t.Helper()
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 3 && fields[1] == Root && fields[2] == "cgroup2" {
			return V2
		}
	}
	return V1
}

func TestDetect(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name    string
		root    string
		want    Mode
		wantErr error
	}{
		{name: "host", root: Root, want: hostMode(t)},
		{name: "cgroup2 mount", root: mountV2(t), want: V2},
		{name: "plain directory", root: t.TempDir(), wantErr: ErrUnsupported},
		{name: "missing", root: filepath.Join(t.TempDir(), "none"), wantErr: ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Detect(tt.root)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Mode != tt.want {
				t.Errorf("got %s, want %s", c.Mode, tt.want)
			}
			if c.Mode == V2 && !slices.Equal(c.Hierarchies(), []string{tt.root}) {
				t.Errorf("got hierarchies %v, want [%s]", c.Hierarchies(), tt.root)
			}
		})
	}
}

// startSleep starts a sleep that only a kill ends.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// inCgroup reports whether /proc/pid/cgroup puts pid in rel (v2 line
// "0::/rel", or a v1 line ending in ":/rel").
func inCgroup(pid int, rel string) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasSuffix(l, ":/"+rel) {
			return true
		}
	}
	return false
}

// TestJoinKill moves real processes into a lab-like tree (one sub-tree for
// the lab, one per node, a leaf per component) on the host's layout and
// on a cgroup2 mount, reads their CPU time, kills the tree and checks that
// the processes died and the cgroups went.
func TestJoinKill(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name string
		root string
		want Mode
	}{
		{name: "host", root: Root, want: hostMode(t)},
		{name: "cgroup2 mount", root: mountV2(t), want: V2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Detect(tt.root)
			if err != nil {
				t.Fatal(err)
			}
			if c.Mode != tt.want {
				t.Fatalf("got %s, want %s", c.Mode, tt.want)
			}
			top := fmt.Sprintf("minik8s-cgtest-%d", os.Getpid())
			t.Cleanup(func() { c.Remove(top) })
			rels := []string{top + "/agents/node1", top + "/node1/pod1/ctr"}
			var cmds []*exec.Cmd
			for _, rel := range rels {
				cmd := startSleep(t)
				if err := c.Join(cmd.Process.Pid, rel); err != nil {
					t.Fatalf("join %s: %v", rel, err)
				}
				if !inCgroup(cmd.Process.Pid, rel) {
					t.Fatalf("pid %d is not in %s: /proc says %q", cmd.Process.Pid, rel, readProc(cmd.Process.Pid))
				}
				cmds = append(cmds, cmd)
			}
			if got := c.Pids(top); len(got) != len(cmds) {
				t.Fatalf("got pids %v in %s, want %d", got, top, len(cmds))
			}
			if _, err := c.CPUUsage(top); err != nil {
				t.Errorf("CPU usage of %s: %v", top, err)
			}
			// Kill one node's sub-tree: the other keeps running.
			n, err := c.Kill(top + "/node1")
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("killed %d processes in node1, want 1", n)
			}
			if err := cmds[1].Wait(); !cgrouptest.Killed(err) {
				t.Errorf("node1's process ended with %v, want killed", err)
			}
			if cmds[0].ProcessState != nil || syscall.Kill(cmds[0].Process.Pid, 0) != nil {
				t.Errorf("the agents' process died with node1")
			}
			for _, h := range c.Hierarchies() {
				if _, err := os.Stat(filepath.Join(h, top, "node1")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s/%s/node1 still there (%v)", h, top, err)
				}
			}
			if _, err := c.Kill(top); err != nil {
				t.Fatal(err)
			}
			if err := cmds[0].Wait(); !cgrouptest.Killed(err) {
				t.Errorf("the agents' process ended with %v, want killed", err)
			}
			for _, h := range c.Hierarchies() {
				if _, err := os.Stat(filepath.Join(h, top)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s/%s still there (%v)", h, top, err)
				}
			}
		})
	}
}

// TestCgroupKill checks that on v2 the kernel kills a whole sub-tree,
// processes forked inside it included, when 1 is written to cgroup.kill.
func TestCgroupKill(t *testing.T) {
	needRoot(t)
	c, err := Detect(mountV2(t))
	if err != nil {
		t.Fatal(err)
	}
	top := fmt.Sprintf("minik8s-cgkill-%d", os.Getpid())
	t.Cleanup(func() { c.Remove(top) })
	// The shell joins before it forks: its child is in the cgroup too.
	if err := os.MkdirAll(filepath.Join(c.Root, top, "leaf"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1"/cgroup.procs; sleep 300 & sleep 301; wait`, "sh", filepath.Join(c.Root, top, "leaf"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitPids(t, c, top, 3)
	if !c.writeKill(top) {
		t.Fatalf("writing %s/%s/cgroup.kill failed: kernel %s", c.Root, top, kernel())
	}
	if err := cmd.Wait(); !cgrouptest.Killed(err) {
		t.Errorf("the shell ended with %v, want killed", err)
	}
	waitPids(t, c, top, 0)
	if err := c.Remove(top); err != nil {
		t.Error(err)
	}
}

// waitPids waits for rel to hold n processes; the bound only keeps a
// broken kernel interface from hanging the test.
func waitPids(t *testing.T, c *FS, rel string, n int) {
	t.Helper()
	for i := 0; len(c.Pids(rel)) != n; i++ {
		if i == 1000 {
			t.Fatalf("got pids %v in %s, want %d of them", c.Pids(rel), rel, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readProc(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	return string(b)
}

func kernel() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}

// TestKillSparesCaller checks that a Kill of a v2 tree the caller itself
// is in kills the others but not the caller (cgroup.kill would take it
// too), and says the tree could not be removed.
func TestKillSparesCaller(t *testing.T) {
	needRoot(t)
	mnt := mountV2(t)
	c, err := Detect(mnt)
	if err != nil {
		t.Fatal(err)
	}
	top := fmt.Sprintf("minik8s-cgself-%d", os.Getpid())
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	var back string // this process' v2 cgroup, to go back to
	for _, l := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			back = p
		}
	}
	t.Cleanup(func() {
		if err := os.WriteFile(filepath.Join(mnt, back, "cgroup.procs"), []byte(fmt.Sprint(os.Getpid())), 0o644); err != nil {
			t.Errorf("moving back to %s: %v", back, err)
		}
		if err := c.Remove(top); err != nil {
			t.Error(err)
		}
	})
	other := startSleep(t)
	if err := c.Join(other.Process.Pid, top+"/other"); err != nil {
		t.Fatal(err)
	}
	if err := c.Join(os.Getpid(), top+"/self"); err != nil {
		t.Fatal(err)
	}
	n, err := c.Kill(top)
	if n != 1 {
		t.Errorf("killed %d, want 1", n)
	}
	if err == nil {
		t.Errorf("got no error, want the cgroup %s/self busy", top)
	}
	if err := other.Wait(); !cgrouptest.Killed(err) {
		t.Errorf("the other process ended with %v, want killed", err)
	}
}
