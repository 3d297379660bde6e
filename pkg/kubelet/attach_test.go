package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// logDirRuntime keeps container logs as dir/<container>/<attempt>.log.
type logDirRuntime struct {
	Runtime
	dir string
}

func (r logDirRuntime) LogPath(_ types.UID, container string, attempt int) string {
	return filepath.Join(r.dir, container, fmt.Sprintf("%d.log", attempt))
}

// Attach: no container here has an open stdin; attach follows the log.
func (r logDirRuntime) Attach(context.Context, string, ExecOptions) error { return errNoStdin }

// TestAttachThroughAPIServer attaches through a real API server to a
// container whose logger keeps writing: the client gets the stdout entries
// on stdout and the stderr ones on stderr, and the attach ends once the
// container's task is gone.
func TestAttachThroughAPIServer(t *testing.T) {
	rt := logDirRuntime{dir: t.TempDir()}
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default", UID: "uid-app"},
		Spec:       v1.PodSpec{NodeName: "node-a", Containers: []v1.Container{{Name: "main", Image: "minik8s/toolbox"}}},
	}
	logPath := rt.LogPath(pod.UID, "main", 0)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath, []byte("2025-03-01T10:00:00Z stdout F before attach\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var gone atomic.Bool
	h := &handler{pods: onePod{pod}, rt: rt,
		running:  func(context.Context, string) bool { return !gone.Load() },
		taskGone: func(context.Context, string) bool { return gone.Load() }}
	srv := startAPIWithAgent(t, h, pod.DeepCopy())
	cs := kubernetes.NewForConfigOrDie(srv.Config)

	// The container writes a line to each stream until it is told to stop.
	stopWriting, written := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(written)
		f, err := os.OpenFile(logPath, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 0; ; i++ {
			select {
			case <-stopWriting:
				return
			default:
			}
			fmt.Fprintf(f, "2025-03-01T10:00:01Z stdout F out %d\n2025-03-01T10:00:01Z stderr F err %d\n", i, i)
			time.Sleep(5 * time.Millisecond) // a container that prints now and then
		}
	}()
	defer func() { close(stopWriting); <-written }()

	attachWith := func(websocket bool, opts *v1.PodAttachOptions) remotecommand.Executor {
		req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("app").SubResource("attach").
			VersionedParams(opts, scheme.ParameterCodec)
		var exec remotecommand.Executor
		var err error
		if websocket {
			exec, err = remotecommand.NewWebSocketExecutor(srv.Config, "GET", req.URL().String())
		} else {
			exec, err = remotecommand.NewSPDYExecutor(srv.Config, "POST", req.URL())
		}
		if err != nil {
			t.Fatal(err)
		}
		return exec
	}

	for _, websocket := range []bool{true, false} {
		t.Run(fmt.Sprintf("output, websocket %v", websocket), func(t *testing.T) {
			gone.Store(false)
			outR, outW := io.Pipe()
			errR, errW := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- attachWith(websocket, &v1.PodAttachOptions{Stdout: true, Stderr: true}).StreamWithContext(context.Background(),
					remotecommand.StreamOptions{Stdout: outW, Stderr: errW})
				outW.Close()
				errW.Close()
			}()
			outLines, errLines := make(chan []string, 1), make(chan []string, 1)
			readAll := func(r io.Reader, to chan<- []string) {
				var lines []string
				sc := bufio.NewScanner(r)
				for sc.Scan() {
					lines = append(lines, sc.Text())
					if len(lines) == 1 {
						to <- nil // the first line arrived
					}
				}
				to <- lines
			}
			go readAll(outR, outLines)
			go readAll(errR, errLines)
			<-outLines
			<-errLines
			gone.Store(true) // the container ends: the attach follows to the end and returns
			if err := <-done; err != nil {
				t.Fatalf("attach: %v", err)
			}
			for _, tt := range []struct {
				name   string
				lines  []string
				prefix string
			}{{"stdout", <-outLines, "out "}, {"stderr", <-errLines, "err "}} {
				if len(tt.lines) == 0 {
					t.Errorf("%s: got no lines", tt.name)
				}
				for _, l := range tt.lines {
					if !strings.HasPrefix(l, tt.prefix) {
						t.Errorf("%s: got line %q, want only lines starting %q (and nothing from before the attach)", tt.name, l, tt.prefix)
						break
					}
				}
			}
		})
	}
}

// echoRuntime's containers are cat: each line written to a container's
// stdin comes straight back on stdout; with stdinOnce, the end of stdin
// makes it say goodbye and end.
type echoRuntime struct {
	logDirRuntime
	once bool
}

func (r echoRuntime) Attach(_ context.Context, id string, opts ExecOptions) error {
	sc := bufio.NewScanner(opts.Stdin)
	for sc.Scan() {
		fmt.Fprintln(opts.Stdout, sc.Text())
	}
	if r.once {
		fmt.Fprintln(opts.Stdout, "bye")
	}
	return nil
}

// TestAttachStdinThroughAPIServer: what the client types reaches the
// container's stdin through the API server, over SPDY and WebSocket, and
// what the container prints back reaches the client, until the container
// ends.
func TestAttachStdinThroughAPIServer(t *testing.T) {
	for _, tt := range []struct {
		name      string
		websocket bool
		once      bool
	}{
		{"spdy", false, false},
		{"websocket", true, false},
		{"spdy stdinOnce", false, true},
		{"websocket stdinOnce", true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := echoRuntime{logDirRuntime: logDirRuntime{dir: t.TempDir()}, once: tt.once}
			pod := &v1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default", UID: "uid-app"},
				Spec: v1.PodSpec{NodeName: "node-a", Containers: []v1.Container{{Name: "main", Image: "minik8s/toolbox",
					Stdin: true, StdinOnce: tt.once}}},
			}
			logPath := rt.LogPath(pod.UID, "main", 0)
			if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(logPath, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			h := &handler{pods: onePod{pod}, rt: rt,
				running:  func(context.Context, string) bool { return true },
				taskGone: func(context.Context, string) bool { return false }}
			srv := startAPIWithAgent(t, h, pod.DeepCopy())
			cs := kubernetes.NewForConfigOrDie(srv.Config)
			req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("app").SubResource("attach").
				VersionedParams(&v1.PodAttachOptions{Stdin: true, Stdout: true, Stderr: true}, scheme.ParameterCodec)
			var exec remotecommand.Executor
			var err error
			if tt.websocket {
				exec, err = remotecommand.NewWebSocketExecutor(srv.Config, "GET", req.URL().String())
			} else {
				exec, err = remotecommand.NewSPDYExecutor(srv.Config, "POST", req.URL())
			}
			if err != nil {
				t.Fatal(err)
			}
			inR, inW := io.Pipe()
			outR, outW := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- exec.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdin: inR, Stdout: outW, Stderr: io.Discard})
				outW.Close()
			}()
			out := bufio.NewScanner(outR)
			for _, line := range []string{"hello", "again"} {
				if _, err := fmt.Fprintln(inW, line); err != nil {
					t.Fatal(err)
				}
				if !out.Scan() {
					t.Fatalf("attach ended before echoing %q: %v", line, <-done)
				}
				if got := out.Text(); got != line {
					t.Errorf("got %q, want %q echoed", got, line)
				}
			}
			inW.Close()
			var rest []string
			for out.Scan() {
				rest = append(rest, out.Text())
			}
			if want := map[bool]int{false: 0, true: 1}[tt.once]; len(rest) != want {
				t.Errorf("after stdin closed: got %q, want %d lines", rest, want)
			}
			if err := <-done; err != nil {
				t.Fatalf("attach: %v", err)
			}
		})
	}
}
