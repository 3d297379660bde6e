package kubelet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"minik8s/pkg/containerlog"
)

// writeLog writes text as container c's log of attempt 0 under dir, as the
// container logger does.
func writeLog(t *testing.T, dir, c, text string) {
	t.Helper()
	path := filepath.Join(dir, c, "0.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	lw := containerlog.NewWriter(&buf)
	if err := lw.Copy("stdout", strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTerminationMessage(t *testing.T) {
	var hundred strings.Builder
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&hundred, "line %d\n", i)
	}
	var last80 strings.Builder
	for i := 21; i <= 100; i++ {
		fmt.Fprintf(&last80, "line %d\n", i)
	}
	long := strings.Repeat("x", 5000) + "END"
	for _, tt := range []struct {
		name   string
		file   *string // the termination-log file's content (nil: no file)
		log    string
		policy v1.TerminationMessagePolicy
		path   string
		code   int
		want   string
	}{
		{name: "file", file: ptr.To("bye\n"), policy: v1.TerminationMessageReadFile, code: 1, want: "bye\n"},
		{name: "file, no fallback", file: ptr.To(""), log: "oops\n", policy: v1.TerminationMessageReadFile, code: 1, want: ""},
		{name: "file written wins over the log", file: ptr.To("bye"), log: "oops\n", policy: v1.TerminationMessageFallbackToLogsOnError, code: 1, want: "bye"},
		{name: "fallback to the log", file: ptr.To(""), log: "oops\n", policy: v1.TerminationMessageFallbackToLogsOnError, code: 1, want: "oops\n"},
		{name: "fallback without a file", log: "oops\n", policy: v1.TerminationMessageFallbackToLogsOnError, code: 2, want: "oops\n"},
		{name: "no fallback on success", file: ptr.To(""), log: "fine\n", policy: v1.TerminationMessageFallbackToLogsOnError, code: 0, want: ""},
		{name: "fallback: the last 80 lines", log: hundred.String(), policy: v1.TerminationMessageFallbackToLogsOnError, code: 1, want: last80.String()},
		{name: "fallback: at most 2 KiB", log: strings.Repeat("y", 3000) + "\n", policy: v1.TerminationMessageFallbackToLogsOnError, code: 1, want: strings.Repeat("y", 2048)},
		{name: "file: its last 4 KiB", file: &long, policy: v1.TerminationMessageReadFile, code: 1, want: long[len(long)-4096:]},
		{name: "no path, no fallback", file: ptr.To("bye"), path: "-", policy: v1.TerminationMessageReadFile, code: 1, want: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			rt := newFakeRuntime()
			rt.logDir = dir
			writeLog(t, dir, "c", tt.log)
			if tt.file != nil {
				if err := os.WriteFile(terminationLogPath(rt.LogPath("uid-1", "c", 0)), []byte(*tt.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			c := &v1.Container{Name: "c", TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: tt.policy}
			if tt.path == "-" {
				c.TerminationMessagePath = ""
			}
			w := &podWorker{deps: &workerDeps{rt: rt}, uid: "uid-1"}
			if got := w.terminationMessage(c, 0, tt.code); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTerminatedStateMessage: the worker puts what a container left in its
// termination-log file into its terminated state.
func TestTerminatedStateMessage(t *testing.T) {
	dir := t.TempDir()
	rt := newFakeRuntime()
	rt.logDir = dir
	writeLog(t, dir, "c", "")
	if err := os.WriteFile(terminationLogPath(rt.LogPath("uid-1", "c", 0)), []byte("out of cheese"), 0o644); err != nil {
		t.Fatal(err)
	}
	two := 2
	rt.exitCode["c"] = &two
	pod := testPod(v1.RestartPolicyNever)
	pod.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
	_, client, _ := startWorker(t, pod, rt)
	eventually(t, "failed", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodFailed
	})
	term := lastStatus(client).ContainerStatuses[0].State.Terminated
	if term == nil || term.Message != "out of cheese" {
		t.Errorf("got terminated %+v, want message %q", term, "out of cheese")
	}
}
