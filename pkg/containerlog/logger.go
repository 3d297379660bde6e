package containerlog

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// drainGrace is how long the logger waits for the other stream once one
// has ended, and for both after SIGTERM. The shim closes both at once when
// the task is deleted (in TTY mode stderr never carries anything and may
// never end), and kills a logger that has not exited 12 s after SIGTERM.
const drainGrace = 2 * time.Second

// RunLogger is a containerd logging binary (cio.BinaryIO): the shim starts
// it with the container's stdout on fd 3 and stderr on fd 4, and starts
// the container once the logger closes fd 5. It appends both streams to
// path and returns when they end. SIGTERM, which the shim sends once the
// task is gone, does not cut it short: what is still in the pipes is
// written first.
func RunLogger(path string) error {
	// Non-blocking pipes are read through the runtime's poller, not by a
	// thread blocked per stream.
	for fd := 3; fd <= 4; fd++ {
		_ = syscall.SetNonblock(fd, true)
	}
	stdout, stderr, ready := os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")
	for _, fd := range []*os.File{stdout, stderr, ready} {
		if _, err := fd.Stat(); err != nil {
			return fmt.Errorf("fd %d: %w (the logger is started by containerd's shim with fds 3, 4 and 5 open)", fd.Fd(), err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	defer f.Close()
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	w := NewWriter(f)
	done := make(chan error, 2)
	go func() { done <- w.Copy("stdout", stdout) }()
	go func() { done <- w.Copy("stderr", stderr) }()
	if err := ready.Close(); err != nil {
		return err
	}
	var deadline <-chan time.Time
	var errs []error
	for ended := 0; ended < 2; {
		select {
		case err := <-done:
			ended++
			if err != nil {
				errs = append(errs, err)
			}
			if deadline == nil {
				deadline = time.After(drainGrace)
			}
		case <-term:
			if deadline == nil {
				deadline = time.After(drainGrace)
			}
		case <-deadline:
			ended = 2
		}
	}
	if err := w.Err(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %v", path, errs)
	}
	return nil
}
