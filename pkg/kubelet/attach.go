package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"minik8s/pkg/containerlog"
)

// attach serves /attach/{ns}/{pod}/{container}: the container's output
// from now on, as the log file receives it, on the stdout and stderr
// streams (one stream with a tty), and the client's input to the
// container's stdin when it was started with one (stdin: true; as under
// the CRI, stdin is ignored otherwise). The attach ends when the container
// ends, the client goes, or the client's stdin ends; with stdinOnce (and no
// tty) that closes the container's stdin and the output goes on to the end.
func (h *handler) attach(w http.ResponseWriter, req *http.Request) {
	pod, container, ok := h.lookup(w, req)
	if !ok {
		return
	}
	q := req.URL.Query()
	b := func(k string) bool { v, _ := strconv.ParseBool(q.Get(k)); return v }
	p := execParams{stdin: b("stdin"), stdout: b("stdout"), stderr: b("stderr"), tty: b("tty")}
	if p.tty {
		p.stderr = false
	}
	if !p.stdin && !p.stdout && !p.stderr {
		http.Error(w, "you must specify at least one of stdin, stdout, stderr", http.StatusBadRequest)
		return
	}
	at := attempts(h.rt, pod.UID, container)
	if len(at) == 0 {
		http.Error(w, fmt.Sprintf("container %s is not running", container), http.StatusBadRequest)
		return
	}
	attempt := at[len(at)-1]
	id := containerID(pod, container, attempt)
	if !h.running(req.Context(), id) {
		http.Error(w, fmt.Sprintf("container %s is not running", container), http.StatusBadRequest)
		return
	}
	path := h.rt.LogPath(pod.UID, container, attempt)
	serveExec(w, req, p, func(ctx context.Context, opts ExecOptions) (int, error) {
		err := h.rt.Attach(ctx, id, opts)
		if !errors.Is(err, errNoStdin) {
			return 0, err
		}
		// No stdin: the output, from the log (the client's stdin is
		// ignored, as under the CRI).
		return 0, followOutput(ctx, path, opts.Stdout, opts.Stderr, func() bool { return h.taskGone(ctx, id) })
	})
}

// outputFollower writes what is appended to a container log from its
// creation on: stdout entries to one writer, stderr entries to the other
// (either may be nil).
type outputFollower struct {
	files []*os.File
	fs    []follower
}

type follower struct {
	r *containerlog.Reader
	w io.Writer
}

func newOutputFollower(path string, stdout, stderr io.Writer) (*outputFollower, error) {
	o := &outputFollower{}
	for _, s := range []struct {
		name string
		w    io.Writer
	}{{"stdout", stdout}, {"stderr", stderr}} {
		if s.w == nil {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("opening the container log: %w", err)
		}
		o.files = append(o.files, f)
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			o.Close()
			return nil, fmt.Errorf("seeking the container log: %w", err)
		}
		o.fs = append(o.fs, follower{containerlog.NewReader(f, containerlog.Options{Stream: s.name}), s.w})
	}
	return o, nil
}

func (o *outputFollower) Close() {
	for _, f := range o.files {
		f.Close()
	}
}

// follow writes the new entries until gone reports the container's task
// deleted (its output has then all been written) or ctx ends.
func (o *outputFollower) follow(ctx context.Context, gone func() bool) error {
	for {
		// Read after checking: output written before the task went is kept.
		last := gone()
		for _, f := range o.fs {
			if _, err := f.r.WriteTo(f.w); err != nil {
				return nil // the client went
			}
		}
		if last {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followInterval):
		}
	}
}

// followInterval is how often an attach looks for new output in the log.
const followInterval = 200 * time.Millisecond

// followOutput writes what is appended to the log at path from now on
// (see outputFollower) until gone reports the task deleted or ctx ends.
func followOutput(ctx context.Context, path string, stdout, stderr io.Writer, gone func() bool) error {
	o, err := newOutputFollower(path, stdout, stderr)
	if err != nil {
		return err
	}
	defer o.Close()
	return o.follow(ctx, gone)
}
