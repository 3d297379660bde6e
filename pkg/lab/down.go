package lab

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DownOptions are the flags of `lab down`.
type DownOptions struct {
	Dir        string
	KeepImages bool
}

// Down stops the supervisor, then everything else, and removes every
// trace of the lab. It is safe after a crash and when nothing is left.
func Down(o DownOptions, out io.Writer) error {
	if os.Geteuid() != 0 {
		return errNotRoot("down")
	}
	start := time.Now()
	removed, errs := teardown(o.Dir, o.KeepImages)
	if len(removed) == 0 && len(errs) == 0 {
		fmt.Fprintf(out, "no lab to remove (%s)\n", time.Since(start).Round(time.Millisecond))
		return nil
	}
	for _, r := range removed {
		fmt.Fprintf(out, " ✓ removed %s\n", r)
	}
	if len(errs) > 0 {
		return fmt.Errorf("lab down left something behind (run it again; if it persists, see the errors): %w", errors.Join(errs...))
	}
	fmt.Fprintf(out, "lab removed in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func errNotRoot(verb string) error {
	return fmt.Errorf("ctl lab %s must run as root (it manages network namespaces, nftables and containerd): run `ctl lab %s` as root", verb, verb)
}

func teardown(dir string, keepImages bool) (removed []string, errs []error) {
	p := paths{dir}
	st, _ := readState(dir)

	// 1. The supervisor first, so nothing is restarted behind our back.
	if pid := readPid(p.supervisorPid()); pid > 0 && syscall.Kill(pid, 0) == nil {
		syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(20 * time.Second)
		for supervisorRunning(p) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if supervisorRunning(p) {
			syscall.Kill(pid, syscall.SIGKILL)
			time.Sleep(100 * time.Millisecond)
		}
		removed = append(removed, fmt.Sprintf("supervisor (pid %d)", pid))
	}
	// 2. Whatever still runs: components, shims, containers.
	if st != nil {
		for _, c := range st.Components {
			if pid := readPid(p.pid(c.Name)); pid > 0 && syscall.Kill(pid, 0) == nil {
				syscall.Kill(-pid, syscall.SIGKILL)
				syscall.Kill(pid, syscall.SIGKILL)
				removed = append(removed, fmt.Sprintf("%s (pid %d)", c.Name, pid))
			}
		}
		for _, n := range Nodes(st.Nodes) {
			if k, err := killCgroup(nodeCgroup(n)); err != nil {
				errs = append(errs, err)
			} else if k > 0 {
				removed = append(removed, fmt.Sprintf("%d container processes of %s", k, n.Name()))
			}
		}
		removeEmptyCgroup(nodesCgroup)
	}
	if k, err := killCgroup(labCgroup); err != nil {
		errs = append(errs, err)
	} else if k > 0 {
		removed = append(removed, fmt.Sprintf("%d processes in cgroup %s (components, shims)", k, labCgroup))
	}
	// 3. Mounts: container rootfs, pod namespaces, node namespaces.
	n, err := unmountUnder(dir, runDir)
	if err != nil {
		errs = append(errs, err)
	}
	if n > 0 {
		removed = append(removed, fmt.Sprintf("%d mounts under %s and %s", n, dir, runDir))
	}
	// 4. The network, last of what keeps the lab apart: namespaces, links,
	// routes and the safety table.
	r, e := removeNetwork()
	removed, errs = append(removed, r...), append(errs, e...)
	// 5. Files.
	if _, err := os.Stat(runDir); err == nil {
		if err := os.RemoveAll(runDir); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, runDir)
		}
	}
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		kept := false
		for _, e := range entries {
			if keepImages && e.Name() == "registry" {
				kept = true
				os.Remove(filepath.Join(dir, "registry", "config.yml"))
				continue
			}
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
		what := "state directory " + dir
		if kept {
			what += " (registry images kept)"
		}
		removed = append(removed, what)
	}
	return removed, errs
}

func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// unmountUnder detaches every mount point below the given directories and
// the lab's node namespaces, deepest first.
func unmountUnder(dirs ...string) (int, error) {
	var targets []string
	for _, mp := range mountPoints() {
		for _, d := range dirs {
			if mp == d || strings.HasPrefix(mp, d+"/") {
				targets = append(targets, mp)
				break
			}
		}
	}
	sort.Slice(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	var errs []error
	n := 0
	for _, t := range targets {
		if err := unix.Unmount(t, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", t, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// mountPoints lists the mount points of our mount namespace.
func mountPoints() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// leftovers names what a lab that is not running left behind.
func leftovers(dir string) []string {
	var left []string
	if _, err := os.Stat(paths{dir}.state()); err == nil {
		left = append(left, "state "+paths{dir}.state())
	}
	left = append(left, networkLeftovers()...)
	if pids := cgroupPids(labCgroup); len(pids) > 0 {
		left = append(left, fmt.Sprintf("%d processes in cgroup %s", len(pids), labCgroup))
	}
	return left
}
