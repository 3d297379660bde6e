package netns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// setns is unix.Setns; tests replace it to make returning fail.
var setns = unix.Setns

// Do runs fn on an OS thread in the network namespace bound at path (a
// file under /run/netns, a /proc/PID/ns/net, or one New made).
func Do(path string, fn func() error) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer unix.Close(fd)
	return DoFd(fd, fn)
}

// DoFd runs fn on an OS thread in the network namespace open as fd. A
// panic in fn is raised again in the caller once the thread is back.
func DoFd(fd int, fn func() error) error {
	return onThread(func() error {
		if err := setns(fd, unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("entering network namespace: %w", err)
		}
		return nil
	}, fn)
}

// Start starts cmd with its process in the network namespace bound at
// path (the child inherits the namespace of the thread that forks it; its
// mount namespace stays the caller's, unlike `ip netns exec`). The caller
// waits for it as for any started command.
func Start(path string, cmd *exec.Cmd) error {
	return Do(path, cmd.Start)
}

// New makes a network namespace and binds it at path, which must not
// exist yet (a namespace file left behind is an error, not something to
// mount over). Only its loopback interface exists, down.
func New(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	f.Close()
	err = onThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		return nil
	}, func() error {
		src := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding the new network namespace to %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		_ = os.Remove(path)
		return err
	}
	return nil
}

// Remove unmounts the namespace bound at path and removes the file; a
// missing one is not an error. The namespace itself goes when nothing else
// holds it (a process, an open file, another bind mount).
func Remove(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// LoopbackUp sets lo up in the calling thread's network namespace (what
// the CNI loopback plugin does); run it in a namespace with Do.
func LoopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// onThread runs enter then fn on a new goroutine locked to its thread, and
// puts the thread back into the network namespace it started in. If enter
// fails the thread has not moved. If it cannot be put back, the goroutine
// exits locked, which makes the runtime end the thread.
func onThread(enter, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		panicVal any
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("opening the thread's network namespace: %w", err)}
			return
		}
		defer unix.Close(orig)
		if err := enter(); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: err}
			return
		}
		var r result
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.panicked, r.panicVal = true, p
				}
			}()
			r.err = fn()
		}()
		if err := setns(orig, unix.CLONE_NEWNET); err != nil {
			// Stay locked: the thread dies with this goroutine.
			r.err = errors.Join(r.err, fmt.Errorf("returning to the original network namespace: %w", err))
			done <- r
			return
		}
		runtime.UnlockOSThread()
		done <- r
	}()
	r := <-done
	if r.panicked {
		panic(r.panicVal)
	}
	return r.err
}
