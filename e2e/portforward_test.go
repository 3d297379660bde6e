//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPortForward: `ctl port-forward` to a pod and to a Service (kubectl
// resolves it to one of its pods and the Service port to the target port)
// carries an HTTP GET from 127.0.0.1 to minik8s/echo, which answers with
// its pod's name; interrupting ctl ends the forwarding.
func TestPortForward(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr(int64(1)), Containers: []corev1.Container{{
			Name: "echo", Image: "minik8s/echo:latest", Args: []string{"--listen", ":8080"},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clusterIPService(t, ns, "web")
	waitPodPhase(t, ns, "web", corev1.PodRunning, 60*time.Second)

	for _, tt := range []struct {
		target, ports string
	}{
		{"pod/web", "18080:8080"},
		{"svc/web", "18081:80"},
	} {
		t.Run(tt.target, func(t *testing.T) {
			local := strings.Split(tt.ports, ":")[0]
			cmd := exec.Command(filepath.Join(binDir, "ctl"), "port-forward", "-n", ns, tt.target, tt.ports)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			stopped := false
			t.Cleanup(func() {
				if !stopped {
					_ = cmd.Process.Kill()
					<-exited
				}
			})
			client := &http.Client{Timeout: 5 * time.Second}
			var body string
			eventually(t, 30*time.Second, "GET through ctl port-forward "+tt.target, func() error {
				select {
				case err := <-exited:
					stopped = true
					t.Fatalf("ctl port-forward exited (%v): %s", err, out.String())
				default:
				}
				resp, err := client.Get("http://127.0.0.1:" + local + "/")
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					return err
				}
				body = string(b)
				return nil
			})
			if got, want := strings.SplitN(body, "\n", 2)[0], "web"; got != want {
				t.Errorf("got first line %q, want %q (the pod's name); ctl said: %s", got, want, out.String())
			}
			if want := "Forwarding from 127.0.0.1:" + local; !strings.Contains(out.String(), want) {
				t.Errorf("ctl said %q, want it to say %q", out.String(), want)
			}
			if err := cmd.Process.Signal(os.Interrupt); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-exited:
				stopped = true
				// kubectl's port-forward ends with 0 on SIGINT, and ctl's
				// own interrupt handling with 130: whichever comes first.
				if code := cmd.ProcessState.ExitCode(); err != nil && code != 130 {
					t.Errorf("ctl port-forward ended with %v after an interrupt, want status 0 or 130: %s", err, out.String())
				}
			case <-time.After(10 * time.Second):
				t.Errorf("ctl port-forward still running 10s after an interrupt: %s", out.String())
			}
		})
	}
}

// TestAttach: `ctl attach` to a running busybox loop prints the lines it
// writes from then on (stdin: e2e/stdin_test.go).
func TestAttach(t *testing.T) {
	ns := namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "ticker"},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr(int64(1)), Containers: []corev1.Container{{
			Name: "tick", Image: "minik8s/toolbox:latest",
			Command: []string{"sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"},
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "ticker", corev1.PodRunning, 60*time.Second)

	cmd := exec.Command(filepath.Join(binDir, "ctl"), "attach", "-n", ns, "ticker")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	eventually(t, 20*time.Second, "two tick lines through ctl attach", func() error {
		if n := strings.Count(out.String(), "tick "); n < 2 {
			return fmt.Errorf("%d lines so far: %q", n, out.String())
		}
		return nil
	})

}
