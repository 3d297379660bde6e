package lab

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The lab's cgroup (v1: one directory per hierarchy). Components and the
// shims containerd starts live under it; containers live in the cgroups
// containerd's default spec gives them, /<namespace>/<id>, where the
// namespace is the node's name.
const (
	cgroupRoot = "/sys/fs/cgroup"
	labCgroup  = "minik8s-lab"
)

// cgroupHierarchies lists the mounted cgroup v1 hierarchies.
func cgroupHierarchies() []string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 3 && fields[2] == "cgroup" && strings.HasPrefix(fields[1], cgroupRoot+"/") {
			out = append(out, fields[1])
		}
	}
	return out
}

// joinCgroup puts pid into minik8s-lab/<rel> in every hierarchy, creating
// the directories; cpuset needs its cpus and mems copied down first.
func joinCgroup(pid int, rel string) error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, labCgroup, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if filepath.Base(h) == "cpuset" || strings.Contains(filepath.Base(h), "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				copyCpuset(h, filepath.Join(labCgroup, rel), f)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

// copyCpuset fills file down the path from the hierarchy root where empty.
func copyCpuset(h, rel, file string) {
	parent := h
	for _, part := range strings.Split(rel, "/") {
		dir := filepath.Join(parent, part)
		cur, _ := os.ReadFile(filepath.Join(dir, file))
		if len(bytes.TrimSpace(cur)) == 0 {
			v, _ := os.ReadFile(filepath.Join(parent, file))
			os.WriteFile(filepath.Join(dir, file), bytes.TrimSpace(v), 0o644)
		}
		parent = dir
	}
}

// cgroupPids returns every pid in the cgroup dirs (recursively) named by
// rel under each hierarchy, e.g. "minik8s-lab" or "node2".
func cgroupPids(rel string) []int {
	seen := map[int]bool{}
	for _, h := range cgroupHierarchies() {
		filepath.WalkDir(filepath.Join(h, rel), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	pids := make([]int, 0, len(seen))
	for p := range seen {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	return pids
}

// killCgroup SIGKILLs every process in rel until none is left (or a few
// seconds pass), then removes the cgroup directories. It returns how many
// processes it killed.
func killCgroup(rel string) (int, error) {
	killed := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := cgroupPids(rel)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return len(killed), fmt.Errorf("processes %v in cgroup %s did not die", pids, rel)
		}
		for _, p := range pids {
			if syscall.Kill(p, syscall.SIGKILL) == nil {
				killed[p] = true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return len(killed), removeCgroupDirs(rel)
}

// removeCgroupDirs removes rel's directories, deepest first.
func removeCgroupDirs(rel string) error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		var dirs []string
		filepath.WalkDir(filepath.Join(h, rel), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			// A cgroup that just lost its last task can refuse for a moment.
			var err error
			for try := 0; try < 20; try++ {
				if err = os.Remove(dirs[i]); err == nil || errors.Is(err, os.ErrNotExist) {
					err = nil
					break
				}
				time.Sleep(25 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
