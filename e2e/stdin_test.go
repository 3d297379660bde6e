//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// interactive is a ctl command whose stdin the test writes to while it
// runs.
type interactive struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *syncBuffer
	exited chan error
}

func startInteractive(t *testing.T, args ...string) *interactive {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "ctl"), args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	i := &interactive{cmd: cmd, stdin: in, out: out, exited: make(chan error, 1)}
	go func() { i.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-i.exited
	})
	return i
}

// send writes line to ctl's stdin and waits for want in its output.
func (i *interactive) send(t *testing.T, line, want string) {
	t.Helper()
	if _, err := io.WriteString(i.stdin, line+"\n"); err != nil {
		t.Fatalf("writing %q to ctl: %v (ctl said %q)", line, err, i.out.String())
	}
	eventually(t, 30*time.Second, fmt.Sprintf("%q in ctl's output", want), func() error {
		if !strings.Contains(i.out.String(), want) {
			return fmt.Errorf("ctl said %q", i.out.String())
		}
		return nil
	})
}

// wait waits for ctl to end and returns its error.
func (i *interactive) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-i.exited:
		i.exited <- err // for the clean-up
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("ctl still running 30s on: %q", i.out.String())
		return nil
	}
}

// TestAttachStdin: `ctl attach -i` to a container with stdin: true (cat)
// sends what is typed and shows it echoed; closing ctl's stdin ends the
// attach and leaves the container running, and the container's log has
// its output. With stdinOnce, the end of the first attach's stdin closes
// the container's: cat sees EOF and the container completes, the attach
// showing its output to the end.
func TestAttachStdin(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	catPod := func(name string, once bool, script string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr(int64(1)), RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{
					Name: "cat", Image: "minik8s/toolbox:latest", Command: []string{"sh", "-c", script},
					Stdin: true, StdinOnce: once,
				}}},
		}
	}
	for _, p := range []*corev1.Pod{catPod("open", false, "cat"), catPod("once", true, "cat; echo cat saw EOF")} {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("open", func(t *testing.T) {
		waitPodPhase(t, ns, "open", corev1.PodRunning, 60*time.Second)
		for round := 0; round < 2; round++ { // stdin stays open across attaches
			a := startInteractive(t, "attach", "-i", "-n", ns, "open")
			line := fmt.Sprintf("hello from attach %d", round)
			a.send(t, line, line)
			a.stdin.Close()
			if err := a.wait(t); err != nil {
				t.Errorf("ctl attach after its stdin closed: %v: %q", err, a.out.String())
			}
		}
		if p, err := cs.CoreV1().Pods(ns).Get(ctx, "open", metav1.GetOptions{}); err != nil || p.Status.Phase != corev1.PodRunning {
			t.Errorf("got %v, phase %v, want the pod running on (stdinOnce not set)", err, p.Status.Phase)
		}
		logs, err := podLogs(ns, "open", "cat")
		if err != nil || !strings.Contains(logs, "hello from attach 0\nhello from attach 1\n") {
			t.Errorf("ctl logs: got %v, %q, want both lines", err, logs)
		}
	})

	t.Run("stdinOnce", func(t *testing.T) {
		waitPodPhase(t, ns, "once", corev1.PodRunning, 60*time.Second)
		a := startInteractive(t, "attach", "-i", "-n", ns, "once")
		a.send(t, "only once", "only once")
		a.stdin.Close()
		if err := a.wait(t); err != nil {
			t.Errorf("ctl attach: %v: %q", err, a.out.String())
		}
		if !strings.Contains(a.out.String(), "cat saw EOF") {
			t.Errorf("ctl attach said %q, want the container's output after its stdin closed", a.out.String())
		}
		waitPodPhase(t, ns, "once", corev1.PodSucceeded, 30*time.Second)
	})
}

// TestRunInteractiveRm: `ctl run -i --rm` creates a pod with stdin
// (stdinOnce), attaches to it, passes ctl's stdin, prints the output,
// and deletes the pod when it completes.
func TestRunInteractiveRm(t *testing.T) {
	ns := namespace(t)
	cmd := exec.Command(filepath.Join(binDir, "ctl"), "run", "-i", "--rm", "-n", ns, "asker",
		"--image=minik8s/toolbox:latest", "--restart=Never", "--", "sh", "-c", "read line; echo got $line")
	cmd.Stdin = strings.NewReader("hello\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ctl run -i --rm: %v: %q", err, out)
	}
	if !strings.Contains(string(out), "got hello") || !strings.Contains(string(out), `pod "asker" deleted`) {
		t.Errorf("ctl run said %q, want %q and the pod deleted", out, "got hello")
	}
	eventually(t, 30*time.Second, "the pod gone", func() error {
		_, err := cs.CoreV1().Pods(ns).Get(context.Background(), "asker", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}

// TestDebug: `ctl debug -i POD --image=minik8s/toolbox --target=C` adds an
// ephemeral container that the agent starts in the pod: attached, it sees
// the target's processes (its PID namespace) and reaches the pod's server
// on 127.0.0.1 (its network); it is reported in
// ephemeralContainerStatuses, never restarted after it exits, and the
// pod runs on.
func TestDebug(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr(int64(1)), Containers: []corev1.Container{{
			Name: "echo", Image: "minik8s/echo:latest", Args: []string{"--listen", ":8080"},
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "web", corev1.PodRunning, 60*time.Second)

	a := startInteractive(t, "debug", "-i", "-n", ns, "web", "--image=minik8s/toolbox:latest", "--target=echo", "-c", "dbg", "--", "sh")
	// The prompt-less shell runs each line; its output comes back.
	a.send(t, "echo debugging; ps", "/echo --listen :8080")
	a.send(t, "wget -qO- http://127.0.0.1:8080/ | head -n 1", "\nweb\n")
	a.send(t, "exit 3", "")
	a.stdin.Close()
	_ = a.wait(t) // how kubectl debug ends after the shell's exit is its own affair

	var st corev1.ContainerStatus
	eventually(t, 30*time.Second, "the ephemeral container terminated", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Status.EphemeralContainerStatuses) != 1 || p.Status.EphemeralContainerStatuses[0].State.Terminated == nil {
			return fmt.Errorf("ephemeral statuses %+v", p.Status.EphemeralContainerStatuses)
		}
		st = p.Status.EphemeralContainerStatuses[0]
		return nil
	})
	if st.Name != "dbg" || st.State.Terminated.ExitCode != 3 || st.RestartCount != 0 {
		t.Errorf("got %s exit %d restarts %d, want dbg exit 3 restarts 0", st.Name, st.State.Terminated.ExitCode, st.RestartCount)
	}
	if logs, err := podLogs(ns, "web", "dbg"); err != nil || !strings.Contains(logs, "debugging") {
		t.Errorf("ctl logs -c dbg: got %v, %q, want the shell's output", err, logs)
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil || p.Status.Phase != corev1.PodRunning || p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("got %v, want the pod running on, its container untouched: %+v", err, p.Status)
	}
}

// openPTY opens a pseudo-terminal: ctl gets the terminal end, the test
// types into and reads from the other, as a user at a terminal would.
func openPTY(t *testing.T) (master, terminal *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// terminalSession runs ctl with args on a pseudo-terminal.
type terminalSession struct {
	master *os.File
	out    *syncBuffer
	exited chan error
}

func startOnTerminal(t *testing.T, args ...string) *terminalSession {
	t.Helper()
	master, term := openPTY(t)
	cmd := exec.Command(filepath.Join(binDir, "ctl"), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term, term, term
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &terminalSession{master: master, out: &syncBuffer{}, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.exited
	})
	go func() { _, _ = io.Copy(s.out, master) }()
	return s
}

// waitFor waits for want on the terminal.
func (s *terminalSession) waitFor(t *testing.T, want string) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%q on the terminal", want), func() error {
		if !strings.Contains(s.out.String(), want) {
			return fmt.Errorf("the terminal shows %q", s.out.String())
		}
		return nil
	})
}

// shell checks a shell on the terminal: a typed command runs on a
// terminal, the prompt after it shows as soon as the shell writes it (no
// newline after it), and exit ends ctl.
func (s *terminalSession) shell(t *testing.T) {
	t.Helper()
	s.waitFor(t, "If you don't see a command prompt")
	if _, err := io.WriteString(s.master, "echo tty-$((1+2)); tty\r"); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "tty-3\r\n/dev/pts/")
	eventually(t, 30*time.Second, "the next prompt, with no newline after it", func() error {
		// busybox sh then asks the terminal where its cursor is (ESC [6n).
		out := s.out.String()
		after := out[strings.Index(out, "tty-3"):]
		if p := strings.LastIndex(after, "/ # "); p < 0 || strings.Contains(after[p:], "\n") {
			return fmt.Errorf("the terminal shows %q after the command", after)
		}
		return nil
	})
	if _, err := io.WriteString(s.master, "exit\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.exited:
		s.exited <- err
		if err != nil {
			t.Errorf("ctl: %v: %q", err, s.out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("ctl still running a minute after exit: %q", s.out.String())
	}
}

// TestRunInteractiveTTY: `ctl run -it --rm NAME --image=minik8s/toolbox --
// sh` from a terminal gives a shell on a terminal in the pod (see shell);
// its exit deletes the pod.
func TestRunInteractiveTTY(t *testing.T) {
	ns := namespace(t)
	s := startOnTerminal(t, "run", "-it", "--rm", "-n", ns, "shell", "--image=minik8s/toolbox:latest", "--restart=Never", "--", "sh")
	s.shell(t)
	eventually(t, 30*time.Second, "the pod gone", func() error {
		_, err := cs.CoreV1().Pods(ns).Get(context.Background(), "shell", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
}

// TestDebugTTY: `ctl debug -it POD --image=minik8s/toolbox --target=C`
// from a terminal gives a shell on a terminal in an ephemeral container
// of the pod (see shell), which sees the target's processes.
func TestDebugTTY(t *testing.T) {
	ns := namespace(t)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr(int64(1)), Containers: []corev1.Container{{
			Name: "echo", Image: "minik8s/echo:latest", Args: []string{"--listen", ":8080"},
		}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "web", corev1.PodRunning, 60*time.Second)
	s := startOnTerminal(t, "debug", "-it", "-n", ns, "web", "--image=minik8s/toolbox:latest", "--target=echo", "--", "sh")
	s.waitFor(t, "If you don't see a command prompt")
	if _, err := io.WriteString(s.master, "ps\r"); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "/echo --listen :8080")
	s.shell(t)
}

// agentPid is the pid of a lab component, from `ctl lab status` (0 when
// not running).
func agentPid(t *testing.T, component string) int {
	t.Helper()
	out, err := ctl("lab", "status")
	if err != nil {
		t.Fatalf("ctl lab status: %v: %s", err, out)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == component && f[1] == "running" {
			var pid int
			fmt.Sscan(f[2], &pid)
			return pid
		}
	}
	return 0
}

// TestAttachStdinAfterAgentRestart: a container with stdin outlives its
// agent: the restarted agent takes its IO over again, so `ctl attach -i`
// reaches its stdin and its output goes on to its log.
func TestAttachStdinAfterAgentRestart(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"},
		Spec: corev1.PodSpec{NodeName: "node1", TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{Name: "cat", Image: "minik8s/toolbox:latest", Command: []string{"cat"}, Stdin: true}}},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "survivor", corev1.PodRunning, 60*time.Second)
	a := startInteractive(t, "attach", "-i", "-n", ns, "survivor")
	a.send(t, "before the restart", "before the restart")
	a.stdin.Close()
	_ = a.wait(t)

	old := agentPid(t, "kubelet-node1")
	if old == 0 {
		t.Fatal("kubelet-node1 not running")
	}
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "kubelet-node1 restarted by the lab's supervisor", func() error {
		if p := agentPid(t, "kubelet-node1"); p == 0 || p == old {
			return fmt.Errorf("pid %d", p)
		}
		return nil
	})
	// Until the new agent has adopted the pod, an attach gets no stdin:
	// try a bounded attach until one echoes.
	eventually(t, 60*time.Second, "an attach after the restart echoing", func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, filepath.Join(binDir, "ctl"), "attach", "-i", "-n", ns, "survivor")
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			return err
		}
		_, _ = io.WriteString(in, "after the restart\n")
		for !strings.Contains(out.String(), "after the restart") && cctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
		in.Close()
		_ = cmd.Wait()
		if !strings.Contains(out.String(), "after the restart") {
			return fmt.Errorf("ctl attach said %q", out.String())
		}
		return nil
	})
	logs, err := podLogs(ns, "survivor", "cat")
	if err != nil || !strings.Contains(logs, "before the restart\n") || !strings.Contains(logs, "after the restart\n") {
		t.Errorf("ctl logs: got %v, %q, want the lines from before and after the restart", err, logs)
	}
}
