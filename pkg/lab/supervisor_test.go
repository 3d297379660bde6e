package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSupervisorRestartsAndStops runs the real supervisor over two sleep
// processes: a killed one comes back with a new pid, a component marked
// stopped stays down until the mark goes, and cancelling stops them all.
func TestSupervisorRestartsAndStops(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (cgroups)")
	}
	dir := t.TempDir()
	p := paths{dir}
	os.MkdirAll(p.logs(), 0o755)
	os.MkdirAll(p.pids(), 0o755)
	sleep := []string{"/bin/sleep", "300"}
	// Component names unique to this test keep its cgroups apart from a lab.
	st := &State{Nodes: 1, Dir: dir, Components: []Component{
		{Name: "suptest-a", Args: sleep},
		{Name: "suptest-b", Args: sleep, Node: 1},
	}}
	if err := writeState(st); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Supervise(ctx, dir) }()
	waitPid := func(name string, not int) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if pid := componentPid(p, name); pid > 0 && pid != not {
				return pid
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: no new running pid", name)
		return 0
	}
	a := waitPid("suptest-a", 0)
	b := waitPid("suptest-b", 0)
	if !supervisorRunning(p) {
		t.Error("lock not held while supervising")
	}
	if _, err := lockSupervisor(p); err == nil {
		t.Error("a second supervisor took the lock")
	}
	syscall.Kill(a, syscall.SIGKILL)
	a2 := waitPid("suptest-a", a)
	t.Logf("suptest-a restarted: pid %d -> %d", a, a2)
	logb, _ := os.ReadFile(p.log("suptest-a"))
	if !strings.Contains(string(logb), "restarting in 1s") {
		t.Errorf("log lacks the restart line:\n%s", logb)
	}
	// Power off b, then on again.
	os.WriteFile(p.stopped("suptest-b"), nil, 0o644)
	deadline := time.Now().Add(8 * time.Second)
	for componentPid(p, "suptest-b") > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if componentPid(p, "suptest-b") > 0 || syscall.Kill(b, 0) == nil {
		t.Fatal("suptest-b still runs after being marked stopped")
	}
	time.Sleep(500 * time.Millisecond)
	if componentPid(p, "suptest-b") > 0 {
		t.Fatal("suptest-b restarted while marked stopped")
	}
	os.Remove(p.stopped("suptest-b"))
	b2 := waitPid("suptest-b", b)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("supervisor did not stop")
	}
	for _, pid := range []int{a2, b2} {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d survived the supervisor", pid)
		}
	}
	if supervisorRunning(p) {
		t.Error("lock still held")
	}
	// Supervise moved this test process into the lab's cgroup: move it
	// back and remove what the test made.
	cg, err := hostCgroups()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range cg.Hierarchies() {
		os.WriteFile(h+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
	for _, rel := range []string{"suptest-a", "agents/suptest-b", "agents", "supervisor"} {
		if err := removeCgroupDirs(labCgroup + "/" + rel); err != nil {
			t.Logf("removing cgroup %s: %v", rel, err)
		}
	}
	if _, err := os.Stat(p.state()); err == nil && !supervisorRunning(paths{DefaultDir()}) {
		removeEmptyCgroup(labCgroup) // only when empty: a running lab keeps it
	}
}

// TestCloseInheritedOnExec: a descriptor ctl inherited without
// close-on-exec (flock(1)'s lock, around `ctl lab up`) is not passed on to
// the supervisor and the components.
func TestCloseInheritedOnExec(t *testing.T) {
	fd, err := syscall.Open(filepath.Join(t.TempDir(), "lock"), syscall.O_CREAT|syscall.O_RDWR, 0o600) // no O_CLOEXEC
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	closeInheritedOnExec()
	out, err := exec.Command("sh", "-c", "if [ -e /proc/$$/fd/"+strconv.Itoa(fd)+" ]; then echo open; else echo closed; fi").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "closed" {
		t.Errorf("descriptor %d is %s in a child, want closed", fd, out)
	}
}
