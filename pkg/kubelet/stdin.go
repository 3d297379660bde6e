package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/errdefs"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"minik8s/pkg/containerlog"
)

// labelStdin marks a container started with an open stdin (stdin: true):
// "open", or "once" for stdinOnce. Its output then comes through the agent
// (see stdinIO), which must take it over again after a restart.
const labelStdin = "minik8s.io/stdin"

// stdinIO is the IO of a container whose spec asks for an open stdin. The
// logging binary the shim starts for other containers gets only their
// output, so such a container gets FIFOs instead, as under the CRI: the
// agent writes what comes out of them to the container's log file (attach
// and logs read it there, as for every container) and holds the write end
// of its stdin, which attach clients write to.
//
// While the agent is down nobody reads the output FIFOs: a container that
// writes more than a pipe holds (64 KiB) waits for the agent to come back
// and take them over again (reattach).
type stdinIO struct {
	once, tty bool

	// Attached clients get the output as it comes (a shell's prompt has
	// no newline: the log has it only once the line ends).
	subMu sync.Mutex
	subs  map[*outputSub]struct{}
	ended chan struct{} // closed once all the output was copied

	mu     sync.Mutex
	stdin  *io.PipeWriter // what cio copies into the stdin FIFO
	closed bool           // stdin closed (stdinOnce, after its first attach)
	// closeTask closes the task's end of the stdin FIFO, so that the
	// process reads EOF (the shim holds a write end of its own).
	closeTask func() error
}

// stdinIOs are the agent's open stdins, by container ID.
type stdinIOs struct {
	mu  sync.Mutex
	ios map[string]*stdinIO
}

func (s *stdinIOs) get(id string) *stdinIO {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ios[id]
}

func (s *stdinIOs) put(id string, i *stdinIO) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ios == nil {
		s.ios = map[string]*stdinIO{}
	}
	s.ios[id] = i
}

func (s *stdinIOs) remove(id string, i *stdinIO) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ios[id] == i {
		delete(s.ios, id)
	}
}

// stdinLabel is the value of labelStdin for c ("" without stdin).
func stdinLabel(c *v1.Container) string {
	switch {
	case !c.Stdin:
		return ""
	case c.StdinOnce:
		return "once"
	}
	return "open"
}

// streams makes the streams of a stdin container's IO: the stdin pipe
// and writers that append the output to the log at logPath. done runs
// once cio has copied all of the output (the process and everything
// holding its output ended): it closes the log and forgets the IO.
func (r *containerdRuntime) streams(id, logPath string, once, tty bool) (*stdinIO, []cio.Opt, func(cio.IO), error) {
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("opening the container log: %w", err)
	}
	lw := containerlog.NewWriter(f)
	var copies sync.WaitGroup
	pipe := func(stream string) *io.PipeWriter {
		pr, pw := io.Pipe()
		copies.Add(1)
		go func() {
			defer copies.Done()
			_ = lw.Copy(stream, pr)
		}()
		return pw
	}
	out := pipe("stdout")
	var errOut *io.PipeWriter
	if !tty {
		errOut = pipe("stderr")
	}
	inR, inW := io.Pipe()
	si := &stdinIO{once: once, tty: tty, stdin: inW, ended: make(chan struct{})}
	opts := []cio.Opt{cio.WithFIFODir(r.fifoDir)}
	if tty {
		opts = append(opts, cio.WithStreams(inR, &teeOut{si: si, log: out}, nil), cio.WithTerminal)
	} else {
		opts = append(opts, cio.WithStreams(inR, &teeOut{si: si, log: out}, &teeOut{si: si, log: errOut, stderr: true}))
	}
	done := func(i cio.IO) {
		go func() {
			if i != nil {
				i.Wait()
			}
			close(si.ended)
			out.Close()
			if errOut != nil {
				errOut.Close()
			}
			copies.Wait()
			f.Close()
			si.mu.Lock()
			si.closed = true
			si.mu.Unlock()
			inW.Close()
			if i != nil {
				_ = i.Close() // removes the FIFOs
			}
			r.stdins.remove(id, si)
		}()
	}
	return si, opts, done, nil
}

// stdinCreator is the IO of a new task of a container with stdin.
func (r *containerdRuntime) stdinCreator(id, logPath string, c *v1.Container) (cio.Creator, error) {
	si, opts, done, err := r.streams(id, logPath, c.StdinOnce, c.TTY)
	if err != nil {
		return nil, err
	}
	create := cio.NewCreator(opts...)
	return func(fid string) (cio.IO, error) {
		si.closeTask = r.taskStdinCloser(id)
		r.stdins.put(id, si)
		i, err := create(fid)
		done(i) // on failure: closes the log and forgets si at once
		if err != nil {
			return nil, err
		}
		return i, nil
	}, nil
}

// taskStdinCloser closes the stdin of container id's task.
func (r *containerdRuntime) taskStdinCloser(id string) func() error {
	return func() error {
		ctx := r.nsCtx(context.Background())
		_, task, err := r.task(ctx, id)
		if err != nil {
			return err
		}
		return task.CloseIO(ctx, containerd.WithStdinCloser)
	}
}

// reattach takes over the IO of a running stdin container that an
// earlier agent started: its output goes to its log again and attach can
// write to its stdin. A container already taken over, or without stdin,
// is left alone.
func (r *containerdRuntime) reattach(ctx context.Context, c containerd.Container) error {
	if r.stdins.get(c.ID()) != nil {
		return nil
	}
	labels, err := c.Labels(ctx)
	if err != nil || labels[labelStdin] == "" {
		return err
	}
	t, err := c.Task(ctx, nil)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if st, err := t.Status(ctx); err != nil || st.Status == containerd.Stopped {
		return err // its output is all in the FIFOs' pipes, gone with them
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return err
	}
	tty := spec.Process != nil && spec.Process.Terminal
	attempt, _ := strconv.Atoi(labels[labelAttempt])
	logPath := r.LogPath(types.UID(labels[labelPodUID]), labels[labelContainer], attempt)
	si, opts, done, err := r.streams(c.ID(), logPath, labels[labelStdin] == "once", tty)
	if err != nil {
		return err
	}
	si.closeTask = r.taskStdinCloser(c.ID())
	t, err = c.Task(ctx, cio.NewAttach(opts...))
	var i cio.IO
	if err == nil {
		i = t.IO()
	}
	done(i)
	if err != nil {
		return fmt.Errorf("attaching to the IO of %s: %w", c.ID(), err)
	}
	r.stdins.put(c.ID(), si)
	klog.FromContext(ctx).V(1).Info("took over the IO of a container with stdin", "id", c.ID())
	return nil
}

// Attach implements Runtime.
func (r *containerdRuntime) Attach(ctx context.Context, id string, opts ExecOptions) error {
	si := r.stdins.get(id)
	if si == nil {
		return errNoStdin
	}
	if opts.Resize != nil {
		go func() {
			bg := r.nsCtx(context.WithoutCancel(ctx))
			for sz := range opts.Resize {
				if _, task, err := r.task(bg, id); err == nil {
					_ = task.Resize(bg, uint32(sz.Width), uint32(sz.Height))
				}
			}
		}()
	}
	return si.attach(ctx, opts.Stdin, opts.Stdout, opts.Stderr)
}

// attach sends the output from now on to stdout and stderr (stderr
// unused with a tty; either may be nil) and in to the container's stdin,
// until the output ends, the client goes, ctx ends, or in ends without
// closing the container's stdin (see copyFrom).
func (si *stdinIO) attach(ctx context.Context, in io.Reader, stdout, stderr io.Writer) error {
	sub := &outputSub{stdout: stdout, stderr: stderr, gone: make(chan struct{})}
	si.subMu.Lock()
	if si.subs == nil {
		si.subs = map[*outputSub]struct{}{}
	}
	si.subs[sub] = struct{}{}
	si.subMu.Unlock()
	defer func() {
		si.subMu.Lock()
		delete(si.subs, sub)
		si.subMu.Unlock()
	}()
	var stdinDone chan bool
	if in != nil {
		stdinDone = make(chan bool, 1)
		go func() { stdinDone <- si.copyFrom(in) }()
	}
	for {
		select {
		case <-si.ended:
			return nil
		case <-sub.gone:
			return nil
		case <-ctx.Done():
			return nil
		case closed := <-stdinDone:
			if !closed {
				return nil
			}
			stdinDone = nil // the output goes on to the end
		}
	}
}

// outputSub is one attached client's output streams.
type outputSub struct {
	stdout, stderr io.Writer
	gone           chan struct{} // closed when a write to it failed
}

// teeOut is what cio copies one output stream of the container to: the
// log, and every attached client.
type teeOut struct {
	si     *stdinIO
	log    io.Writer
	stderr bool
}

func (t *teeOut) Write(p []byte) (int, error) {
	_, _ = t.log.Write(p) // the log writer drops what it cannot write
	t.si.subMu.Lock()
	defer t.si.subMu.Unlock()
	for sub := range t.si.subs {
		w := sub.stdout
		if t.stderr {
			w = sub.stderr
		}
		if w == nil {
			continue
		}
		if _, err := w.Write(p); err != nil {
			delete(t.si.subs, sub)
			close(sub.gone)
		}
	}
	return len(p), nil
}

// errNoStdin: the container was not started with an open stdin.
var errNoStdin = errors.New("the container has no open stdin")

// copyFrom writes what in carries to the container's stdin until in ends
// (the client closed its stdin or went). With stdinOnce and no terminal
// the container's stdin is then closed, for good, and copyFrom reports
// true: the attach goes on showing output until the container ends. As
// the CRI (containerd's) does, with a terminal the stdin stays open.
func (si *stdinIO) copyFrom(in io.Reader) bool {
	si.mu.Lock()
	closed, w := si.closed, si.stdin
	si.mu.Unlock()
	if closed {
		return false
	}
	_, _ = io.Copy(w, in)
	if !si.once || si.tty {
		return false
	}
	si.mu.Lock()
	defer si.mu.Unlock()
	if !si.closed {
		si.closed = true
		si.stdin.Close()
		if si.closeTask != nil {
			if err := si.closeTask(); err != nil && !errdefs.IsNotFound(err) {
				klog.Background().V(1).Info("closing a container's stdin", "err", err)
			}
		}
	}
	return true
}
