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

// errAttachStdin is why attach serves output only: the agent gives
// containerd a logging binary for each container's output and keeps no
// stdin open, so there is nothing to write a client's input to.
var errAttachStdin = errors.New("attaching to stdin is not supported by this node agent: containers run without an open stdin (their output goes to the container log); use exec")

// attach serves /attach/{ns}/{pod}/{container}: the container's output
// from now on, as the log file receives it, on the stdout and stderr
// streams (one stream with a tty), until the container ends or the client
// goes. Stdin is refused (errAttachStdin).
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
	switch {
	case p.stdin:
		http.Error(w, errAttachStdin.Error(), http.StatusBadRequest)
		return
	case !p.stdout && !p.stderr:
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
		return 0, followOutput(ctx, path, opts.Stdout, opts.Stderr, func() bool { return h.taskGone(ctx, id) })
	})
}

// followOutput writes what is appended to the log at path from now on, its
// stdout entries to stdout and its stderr entries to stderr (either may be
// nil), until gone reports the container's task deleted (its logger has
// then written everything) or ctx ends.
func followOutput(ctx context.Context, path string, stdout, stderr io.Writer, gone func() bool) error {
	type follower struct {
		r *containerlog.Reader
		w io.Writer
	}
	var fs []follower
	for _, s := range []struct {
		name string
		w    io.Writer
	}{{"stdout", stdout}, {"stderr", stderr}} {
		if s.w == nil {
			continue
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("opening the container log: %w", err)
		}
		defer f.Close()
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return fmt.Errorf("seeking the container log: %w", err)
		}
		fs = append(fs, follower{containerlog.NewReader(f, containerlog.Options{Stream: s.name}), s.w})
	}
	for {
		// Read after checking: output written before the task went is kept.
		last := gone()
		for _, f := range fs {
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
		case <-time.After(200 * time.Millisecond):
		}
	}
}
