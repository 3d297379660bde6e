// Package cgrouptest gives tests a cgroup v2 hierarchy on any host, so that
// the v2 code paths run on this v1 development machine as well.
package cgrouptest

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// MountV2 mounts a cgroup2 file system on a temporary directory, unmounted
// when the test ends; the caller must be root. The kernel has one unified
// hierarchy, so this is the host's own (on a v1 or hybrid host its
// controllers are all bound to v1, but process tracking and cgroup.kill
// work): tests make cgroups of their own names below it.
func MountV2(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
		t.Fatalf("mount -t cgroup2 none %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// Killed tells whether a command's Wait error says SIGKILL ended it.
func Killed(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}
