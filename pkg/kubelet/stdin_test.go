package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"testing"
)

// TestStdinIOAttach: an attached client's input reaches the container's
// stdin and the container's output reaches the client as it comes. The
// end of the client's stdin ends its attach; with stdinOnce and no tty it
// closes the container's stdin (and the task's end of it) instead, and
// the attach lasts until the output ends. Without stdinOnce, or with a
// tty, stdin stays open for the next attach.
func TestStdinIOAttach(t *testing.T) {
	for _, tt := range []struct {
		name       string
		once, tty  bool
		wantClosed bool
	}{
		{"open", false, false, false},
		{"stdinOnce", true, false, true},
		{"stdinOnce with a tty", true, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inR, inW := io.Pipe()
			var taskClosed atomic.Bool
			si := &stdinIO{once: tt.once, tty: tt.tty, stdin: inW, ended: make(chan struct{}),
				closeTask: func() error { taskClosed.Store(true); return nil }}
			// The container: cat, its output teed to the log and clients.
			catDone := make(chan struct{})
			go func() {
				defer close(catDone)
				_, _ = io.Copy(&teeOut{si: si, log: io.Discard}, inR)
			}()
			attach := func(line string) (closedAfter bool) {
				clientIn, clientInW := io.Pipe()
				clientOutR, clientOut := io.Pipe()
				done := make(chan error, 1)
				go func() {
					done <- si.attach(context.Background(), clientIn, clientOut, nil)
					clientOut.Close()
				}()
				if _, err := fmt.Fprintln(clientInW, line); err != nil {
					t.Fatal(err)
				}
				out := bufio.NewScanner(clientOutR)
				if !out.Scan() || out.Text() != line {
					t.Fatalf("got %q, want %q echoed", out.Text(), line)
				}
				clientInW.Close()
				select {
				case <-done:
					return false
				case <-catDone:
					// stdin closed: cat ended, so does the output.
					close(si.ended)
					<-done
					return true
				}
			}
			if closed := attach("hello"); closed != tt.wantClosed || taskClosed.Load() != tt.wantClosed {
				t.Fatalf("got container stdin closed %v (task's %v), want %v", closed, taskClosed.Load(), tt.wantClosed)
			}
			if !tt.wantClosed {
				if closed := attach("again"); closed {
					t.Errorf("the second attach closed stdin, want it open")
				}
			}
		})
	}
}
