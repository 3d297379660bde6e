package netns

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests make real namespaces, which needs root (as the lab and the
// agent do).

// The main goroutine keeps the process's main thread, so no goroutine of
// Do's runs there: the runtime parks a locked main thread for good rather
// than ending it, which would hide whether a discarded thread ended.
func init() { runtime.LockOSThread() }

// inode is the inode of a namespace file or /proc link: its identity.
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func threadNS() string { return fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()) }

// newNS makes a namespace under the test's temporary directory.
func newNS(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ns")
	if err := New(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(path); err != nil {
			t.Error(err)
		}
	})
	return path
}

// threadsElsewhere lists the process's threads that are not in the
// namespace with inode want.
func threadsElsewhere(t *testing.T, want uint64) []string {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range tasks {
		var st unix.Stat_t
		if unix.Stat(p+"/ns/net", &st) != nil {
			continue // the thread has just exited
		}
		if st.Ino != want {
			out = append(out, p)
		}
	}
	return out
}

// waitAllThreadsIn waits until every thread of the process is in the
// namespace want: a thread the runtime discards ends shortly after its
// goroutine does, so this waits (a bound, not a measure) rather than
// looks once.
func waitAllThreadsIn(t *testing.T, want uint64) {
	t.Helper()
	var last []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if last = threadsElsewhere(t, want); len(last) == 0 {
			return
		}
	}
	t.Fatalf("threads left in another network namespace: %v", last)
}

func TestDoRunsInTheNamespace(t *testing.T) {
	path := newNS(t)
	home, target := inode(t, threadNS()), inode(t, path)
	if target == home {
		t.Fatalf("New made no new namespace: inode %d is the test's own", target)
	}
	var got uint64
	if err := Do(path, func() error { got = inode(t, threadNS()); return nil }); err != nil {
		t.Fatal(err)
	}
	if got != target {
		t.Errorf("fn ran in namespace %d, want %d", got, target)
	}
	waitAllThreadsIn(t, home)
}

// Many calls at once on many threads: every thread is back home after.
func TestDoConcurrentLeavesNoThreadBehind(t *testing.T) {
	path := newNS(t)
	home, target := inode(t, threadNS()), inode(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- Do(path, func() error {
				time.Sleep(time.Millisecond) // keep several threads inside at once
				var st unix.Stat_t
				if err := unix.Stat(threadNS(), &st); err != nil {
					return err
				}
				if st.Ino != target {
					return fmt.Errorf("in namespace %d, want %d", st.Ino, target)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	waitAllThreadsIn(t, home)
}

// A socket made inside stays in the namespace, used from any thread.
func TestDoFdSocketStaysInside(t *testing.T) {
	path := newNS(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	up := exec.Command("ip", "link", "set", "lo", "up")
	if err := Start(path, up); err != nil {
		t.Fatal(err)
	}
	if err := up.Wait(); err != nil {
		t.Fatalf("ip link set lo up: %v", err)
	}
	var ln net.Listener
	if err := DoFd(int(f.Fd()), func() (err error) { ln, err = net.Listen("tcp4", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("inside\n"))
			c.Close()
		}
	}()
	var c net.Conn
	if err := DoFd(int(f.Fd()), func() (err error) { c, err = net.Dial("tcp4", ln.Addr().String()); return err }); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	if got := string(buf[:n]); got != "inside\n" {
		t.Errorf("read %q through the namespace's loopback, want %q", got, "inside\n")
	}
}

// A started command runs in the namespace but keeps the caller's mount
// namespace (unlike `ip netns exec`).
func TestStart(t *testing.T) {
	path := newNS(t)
	var out strings.Builder
	cmd := exec.Command("readlink", "/proc/self/ns/net", "/proc/self/ns/mnt")
	cmd.Stdout = &out
	if err := Start(path, cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	mnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	want := "net:[" + strconv.FormatUint(inode(t, path), 10) + "]\n" + mnt + "\n"
	if out.String() != want {
		t.Errorf("the command saw %q, want %q", out.String(), want)
	}
}

func TestDoErrors(t *testing.T) {
	notNS := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(notNS, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	errFn := errors.New("fn failed")
	path := newNS(t)
	home := inode(t, threadNS())
	tests := []struct {
		name   string
		path   string
		ran    bool
		wantIs error
	}{
		{"missing file", filepath.Join(t.TempDir(), "none"), false, unix.ENOENT},
		{"not a namespace", notNS, false, unix.EINVAL},
		{"fn's own error", path, true, errFn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := false
			err := Do(tt.path, func() error { ran = true; return errFn })
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("got error %v, want one matching %v", err, tt.wantIs)
			}
			if ran != tt.ran {
				t.Errorf("fn ran: got %v, want %v", ran, tt.ran)
			}
		})
	}
	waitAllThreadsIn(t, home)
}

func TestDoPanicReachesTheCaller(t *testing.T) {
	path := newNS(t)
	home := inode(t, threadNS())
	got := func() (p any) {
		defer func() { p = recover() }()
		_ = Do(path, func() error { panic("boom") })
		return nil
	}()
	if got != "boom" {
		t.Errorf("recovered %v, want boom", got)
	}
	waitAllThreadsIn(t, home)
}

// When the thread cannot go back, it must never run Go code again: the
// runtime ends it.
func TestDoDiscardsAThreadThatCannotReturn(t *testing.T) {
	path := newNS(t)
	home := inode(t, threadNS())
	calls := 0
	setns = func(fd, nstype int) error {
		calls++
		if calls == 2 { // the return
			return unix.EPERM
		}
		return unix.Setns(fd, nstype)
	}
	defer func() { setns = unix.Setns }()
	err := Do(path, func() error { return nil })
	if !errors.Is(err, unix.EPERM) {
		t.Fatalf("got error %v, want the failed return (EPERM)", err)
	}
	waitAllThreadsIn(t, home)
}

func TestNewAndRemove(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ns")
	if err := New(path); err != nil {
		t.Fatal(err)
	}
	if err := New(path); !errors.Is(err, os.ErrExist) {
		t.Errorf("New over an existing namespace: got %v, want an error matching os.ErrExist", err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		t.Errorf("%s is on a file system of type %#x, want nsfs (%#x)", path, fs.Type, unix.NSFS_MAGIC)
	}
	for i := 0; i < 2; i++ { // a second Remove finds nothing: not an error
		if err := Remove(path); err != nil {
			t.Fatalf("Remove #%d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Remove, stat %s: got %v, want not exist", path, err)
	}
}

// /proc/sys/net shows the namespace of the thread that opens it, so a
// sysctl written inside Do is the namespace's, never the host's.
func TestDoSysctlIsTheNamespaces(t *testing.T) {
	path := newNS(t)
	const file = "/proc/sys/net/ipv4/ip_default_ttl"
	host, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "42"
	if strings.TrimSpace(string(host)) == want {
		want = "43"
	}
	var inside []byte
	if err := Do(path, func() error {
		if err := os.WriteFile(file, []byte(want+"\n"), 0o644); err != nil {
			return err
		}
		inside, err = os.ReadFile(file)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(inside)); got != want {
		t.Errorf("inside: got %s, want %s", got, want)
	}
	after, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(host) {
		t.Errorf("the host's %s: got %q, want it unchanged (%q)", file, after, host)
	}
}
