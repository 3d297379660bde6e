package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"minik8s/pkg/netns"
)

// Back-off of a component that keeps exiting: 1 s doubling to 30 s, reset
// once it has run for 10 s. A component that ran that long had started
// well, and its exit (a kill, a lost connection) is not a crash loop: it
// comes back after a second, however often it has been killed before
// (the chaos e2e test kills a component every few seconds; with a reset
// after a minute the apiserver spent most of the run in back-off).
const (
	minBackoff  = time.Second
	maxBackoff  = 30 * time.Second
	stableAfter = 10 * time.Second
	stopGrace   = 5 * time.Second
)

// nextBackoff is the wait before restarting a component that ran for
// `ran` after the previous wait `prev`.
func nextBackoff(prev, ran time.Duration) time.Duration {
	if ran >= stableAfter || prev == 0 {
		return minBackoff
	}
	if next := prev * 2; next < maxBackoff {
		return next
	}
	return maxBackoff
}

// lockSupervisor takes the lab's lock; it fails when a supervisor holds it.
func lockSupervisor(p paths) (*os.File, error) {
	f, err := os.OpenFile(p.lock(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("a lab supervisor already holds %s", p.lock())
	}
	return f, nil
}

// supervisorRunning reports whether a supervisor holds the lab's lock.
func supervisorRunning(p paths) bool {
	f, err := os.OpenFile(p.lock(), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}

// Supervise runs the lab's components until SIGTERM or ctx ends, then
// stops them in reverse order. It is `ctl lab supervise`, started
// detached by `up`.
func Supervise(ctx context.Context, dir string) error {
	p := paths{dir}
	lock, err := lockSupervisor(p)
	if err != nil {
		return err
	}
	defer lock.Close()
	st, err := readState(dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.supervisorPid(), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	defer os.Remove(p.supervisorPid())
	if err := joinCgroup(os.Getpid(), "supervisor"); err != nil {
		logf("joining the lab cgroup: %v", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()

	runners := make([]*runner, len(st.Components))
	var wg sync.WaitGroup
	for i, c := range st.Components {
		r := &runner{c: c, p: p, stopped: make(chan struct{})}
		runners[i] = r
		wg.Add(1)
		go func() { defer wg.Done(); r.run(ctx) }()
		// Start in order: the next one waits for this one to answer, so
		// agents do not burn their back-off on a containerd still starting.
		if c.Ready != "" {
			waitReady(ctx, c.Ready, 30*time.Second)
		}
	}
	<-ctx.Done()
	logf("stopping the lab's components")
	// Agents first (together), then the rest in reverse order.
	var agents sync.WaitGroup
	for _, r := range runners {
		if r.c.Node > 0 {
			agents.Add(1)
			go func() { defer agents.Done(); r.shutdown() }()
		}
	}
	agents.Wait()
	for i := len(runners) - 1; i >= 0; i-- {
		if runners[i].c.Node == 0 {
			runners[i].shutdown()
		}
	}
	wg.Wait()
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s supervisor: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
}

// runner keeps one component running.
type runner struct {
	c       Component
	p       paths
	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	stopped chan struct{}
}

func (r *runner) run(ctx context.Context) {
	defer close(r.stopped)
	var backoff time.Duration
	for attempt := 1; ctx.Err() == nil; {
		if _, err := os.Stat(r.p.stopped(r.c.Name)); err == nil {
			// Powered off by `lab node stop`: wait to be started again.
			sleepCtx(ctx, 250*time.Millisecond)
			continue
		}
		started := time.Now()
		err := r.start(attempt)
		if err == nil {
			err = r.wait(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		ran := time.Since(started)
		if _, serr := os.Stat(r.p.stopped(r.c.Name)); serr == nil {
			logf("%s stopped on request", r.c.Name)
			backoff = 0
			continue
		}
		backoff = nextBackoff(backoff, ran)
		logf("%s exited after %s (%v); restarting in %s", r.c.Name, ran.Round(time.Millisecond), err, backoff)
		r.appendLog(fmt.Sprintf("=== supervisor: %s exited (%v); restarting in %s", r.c.Name, err, backoff))
		attempt++
		sleepCtx(ctx, backoff)
	}
}

func (r *runner) appendLog(line string) {
	f, err := os.OpenFile(r.p.log(r.c.Name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
}

func (r *runner) start(attempt int) error {
	r.appendLog(fmt.Sprintf("=== supervisor: starting %s (attempt %d): %s", r.c.Name, attempt, strings.Join(r.c.Args, " ")))
	logFile, err := os.OpenFile(r.p.log(r.c.Name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(r.c.Args[0], r.c.Args[1:]...)
	cmd.Env = r.c.Env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = r.p.dir
	// Its own process group, so a terminal's ^C never reaches it and a
	// stop can signal the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: 0}
	start := cmd.Start
	if r.c.Netns != "" {
		start = func() error { return netns.Start(r.c.Netns, cmd) }
	}
	if err := start(); err != nil {
		return fmt.Errorf("starting %s: %w", r.c.Name, err)
	}
	cg := r.c.Name
	if r.c.Node > 0 {
		cg = "agents/" + r.c.Name
	}
	if err := joinCgroup(cmd.Process.Pid, cg); err != nil {
		logf("%s: joining cgroup: %v", r.c.Name, err)
	}
	os.WriteFile(r.p.pid(r.c.Name), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
	done := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()
	go func() { cmd.Wait(); close(done) }()
	return nil
}

// wait returns when the process exits, or stops it when ctx ends or the
// component is marked stopped.
func (r *runner) wait(ctx context.Context) error {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			os.Remove(r.p.pid(r.c.Name))
			if cmd.ProcessState != nil && !cmd.ProcessState.Success() {
				return errors.New(cmd.ProcessState.String())
			}
			return errors.New("exit status 0")
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if _, err := os.Stat(r.p.stopped(r.c.Name)); err == nil {
				r.terminate(cmd, done)
			}
		}
	}
}

// terminate sends SIGTERM to the component's group, then SIGKILL after the
// grace period.
func (r *runner) terminate(cmd *exec.Cmd, done chan struct{}) {
	pid := cmd.Process.Pid
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(stopGrace):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-done
	}
	os.Remove(r.p.pid(r.c.Name))
}

// shutdown stops the component for good (the supervisor is exiting).
func (r *runner) shutdown() {
	r.mu.Lock()
	cmd, done := r.cmd, r.done
	r.mu.Unlock()
	if cmd != nil {
		select {
		case <-done:
		default:
			r.appendLog("=== supervisor: stopping " + r.c.Name)
			r.terminate(cmd, done)
		}
	}
	<-r.stopped
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// probe checks a Ready spec once.
func probe(ready string) bool {
	if path, ok := strings.CutPrefix(ready, "unix:"); ok {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	// Like the kubelet's HTTPS probes: the answer matters, not who signed
	// the certificate (the apiserver's health paths are public).
	client := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get(ready)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitReady polls a Ready spec until it answers, ctx ends or timeout.
func waitReady(ctx context.Context, ready string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if probe(ready) {
			return true
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return false
		}
		sleepCtx(ctx, 50*time.Millisecond)
	}
}

// componentPid returns the running pid of a component from its pid file.
func componentPid(p paths, name string) int {
	b, err := os.ReadFile(p.pid(name))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}
