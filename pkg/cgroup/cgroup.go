package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Root is where hosts mount their cgroup file systems.
const Root = "/sys/fs/cgroup"

// Mode is the layout of a host's cgroup file system.
type Mode int

const (
	// V1 is one hierarchy per controller (or group of controllers),
	// each mounted under the root. A "hybrid" host that also mounts an
	// empty cgroup2 at <root>/unified is V1 too, as runc sees it: its
	// controllers, and so containers' cgroups, are in the v1 hierarchies.
	V1 Mode = 1
	// V2 is the unified hierarchy mounted at the root itself.
	V2 Mode = 2
)

func (m Mode) String() string {
	switch m {
	case V1:
		return "cgroup v1"
	case V2:
		return "cgroup v2"
	}
	return "no cgroups"
}

// ErrUnsupported is returned by Detect for a root that is neither layout.
var ErrUnsupported = errors.New("unsupported cgroup layout")

// FS is a host's cgroup file system at Root (or, in tests, wherever a
// cgroup2 was mounted). Paths given to its methods are relative to the
// top of each hierarchy, like runc's cgroupsPath ("minik8s/node1").
type FS struct {
	Root string
	Mode Mode
	// hierarchies are the directories whose trees hold the cgroups: one
	// per v1 hierarchy, or Root alone on v2.
	hierarchies []string
}

// Detect finds the layout at root the way runc does: a cgroup2 file
// system mounted at root is v2; otherwise the cgroup v1 hierarchies
// mounted under it are used. Anything else (no cgroups mounted, a
// container without /sys/fs/cgroup) is an error that says so, since the
// lab could neither track nor kill its processes.
func Detect(root string) (*FS, error) {
	root = filepath.Clean(root)
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return nil, fmt.Errorf("%w: cannot read %s (%v): mount the cgroup file system there (cgroup2, or the v1 hierarchies), as systemd does at boot", ErrUnsupported, root, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return &FS{Root: root, Mode: V2, hierarchies: []string{root}}, nil
	}
	h := v1Hierarchies(root)
	if len(h) == 0 {
		return nil, fmt.Errorf("%w: %s is neither a cgroup2 mount nor a directory of cgroup v1 hierarchies (file system type %#x): mount cgroup2 there (`mount -t cgroup2 none %s`) or the v1 hierarchies, as systemd does at boot", ErrUnsupported, root, st.Type, root)
	}
	return &FS{Root: root, Mode: V1, hierarchies: h}, nil
}

// NewFS is the file system of a layout known in advance: mode, and for v1
// the hierarchies' directories (for v2, root alone). Detect is how a host's
// is found; NewFS serves readers over files laid out elsewhere (tests).
func NewFS(root string, mode Mode, hierarchies ...string) *FS {
	if mode == V2 {
		hierarchies = []string{root}
	}
	return &FS{Root: root, Mode: mode, hierarchies: hierarchies}
}

// v1Hierarchies lists the cgroup v1 hierarchies mounted under root.
func v1Hierarchies(root string) []string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 3 && fields[2] == "cgroup" && strings.HasPrefix(fields[1], root+"/") {
			out = append(out, fields[1])
		}
	}
	sort.Strings(out)
	return out
}

// Hierarchies returns the directories whose trees hold the cgroups.
func (c *FS) Hierarchies() []string { return append([]string(nil), c.hierarchies...) }

// Join puts pid into the cgroup rel, creating it. On v1 that is one
// directory per hierarchy, and cpuset needs its cpus and mems copied down
// first. On v2 rel must be a leaf, as processes may live only in cgroups
// that give no controllers to children; nothing here enables any, so
// every cgroup Join makes is one.
func (c *FS) Join(pid int, rel string) error {
	var errs []error
	for _, h := range c.hierarchies {
		dir := filepath.Join(h, rel)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Mode == V1 && strings.Contains(filepath.Base(h), "cpuset") {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				copyCpuset(h, rel, f)
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
	for _, part := range strings.Split(filepath.Clean(rel), "/") {
		dir := filepath.Join(parent, part)
		cur, _ := os.ReadFile(filepath.Join(dir, file))
		if len(bytes.TrimSpace(cur)) == 0 {
			v, _ := os.ReadFile(filepath.Join(parent, file))
			os.WriteFile(filepath.Join(dir, file), bytes.TrimSpace(v), 0o644)
		}
		parent = dir
	}
}

// Pids returns every pid in the cgroup rel and below, in every hierarchy,
// leaving out the caller's own.
func (c *FS) Pids(rel string) []int {
	seen := c.pids(rel)
	delete(seen, os.Getpid())
	pids := make([]int, 0, len(seen))
	for p := range seen {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	return pids
}

// pids is the set of pids in rel and below.
func (c *FS) pids(rel string) map[int]bool {
	seen := map[int]bool{}
	for _, h := range c.hierarchies {
		filepath.WalkDir(filepath.Join(h, rel), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					seen[pid] = true
				}
			}
			return nil
		})
	}
	return seen
}

// Kill SIGKILLs every process in rel and below until none is left (or a
// few seconds pass), then removes the cgroups. It returns how many
// processes it found to kill. On v2 the kernel does the killing
// (cgroup.kill, Linux 5.14+), which also catches processes forked while
// it runs; without cgroup.kill, on v1, and when the caller is in the tree
// itself (it spares itself), each pid is signalled in turn until the tree
// is empty.
func (c *FS) Kill(rel string) (int, error) {
	useKill := c.Mode == V2 && !c.pids(rel)[os.Getpid()]
	killed := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := c.Pids(rel)
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return len(killed), fmt.Errorf("processes %v in cgroup %s did not die", pids, rel)
		}
		for _, p := range pids {
			killed[p] = true
		}
		if !useKill || !c.writeKill(rel) {
			for _, p := range pids {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A cgroup that just lost its last task can refuse for a moment.
	return len(killed), c.remove(rel, 20)
}

// writeKill writes 1 to rel's cgroup.kill; false when the kernel has none.
func (c *FS) writeKill(rel string) bool {
	return os.WriteFile(filepath.Join(c.Root, rel, "cgroup.kill"), []byte("1"), 0o644) == nil
}

// Remove removes rel and the cgroups below it, deepest first. A cgroup
// that still holds processes cannot go (EBUSY): Kill them first.
func (c *FS) Remove(rel string) error { return c.remove(rel, 1) }

// remove is Remove trying each cgroup up to tries times.
func (c *FS) remove(rel string, tries int) error {
	var errs []error
	for _, h := range c.hierarchies {
		var dirs []string
		filepath.WalkDir(filepath.Join(h, rel), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			var err error
			for try := 0; try < tries; try++ {
				if try > 0 {
					time.Sleep(25 * time.Millisecond)
				}
				if err = os.Remove(dirs[i]); err == nil || errors.Is(err, os.ErrNotExist) {
					err = nil
					break
				}
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// CPUUsage is the CPU time the processes of rel and below have used since
// it was made: cpuacct.usage in the v1 cpuacct hierarchy, usage_usec of
// cpu.stat on v2 (there in every cgroup, with or without the cpu
// controller).
func (c *FS) CPUUsage(rel string) (time.Duration, error) {
	if c.Mode == V2 {
		b, err := os.ReadFile(filepath.Join(c.Root, rel, "cpu.stat"))
		if err != nil {
			return 0, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
				us, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s/cpu.stat: %w", filepath.Join(c.Root, rel), err)
				}
				return time.Duration(us) * time.Microsecond, nil
			}
		}
		return 0, fmt.Errorf("%s/cpu.stat has no usage_usec", filepath.Join(c.Root, rel))
	}
	for _, h := range c.hierarchies {
		f := filepath.Join(h, rel, "cpuacct.usage")
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, err
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		return time.Duration(ns), nil
	}
	return 0, fmt.Errorf("no cpuacct.usage for cgroup %s in the v1 hierarchies under %s: %w", rel, c.Root, os.ErrNotExist)
}

// MemoryWorkingSet is the memory of rel's processes less the inactive
// page cache, which the kernel reclaims first: the figure the kubelet
// evicts on and metrics-server reports (floored at 0 as the kubelet
// floors it). On v1 it is memory.usage_in_bytes less memory.stat's
// total_inactive_file in the memory hierarchy, on v2 memory.current less
// inactive_file.
func (c *FS) MemoryWorkingSet(rel string) (uint64, error) {
	usage, stat, inactive := "memory.usage_in_bytes", "memory.stat", "total_inactive_file"
	if c.Mode == V2 {
		usage, inactive = "memory.current", "inactive_file"
	}
	for _, h := range c.hierarchies {
		dir := filepath.Join(h, rel)
		cur, err := readUint(filepath.Join(dir, usage))
		if errors.Is(err, os.ErrNotExist) && c.Mode == V1 {
			continue
		}
		if err != nil {
			return 0, err
		}
		st, err := readKeyed(filepath.Join(dir, stat))
		if err != nil {
			return 0, err
		}
		if st[inactive] > cur {
			return 0, nil
		}
		return cur - st[inactive], nil
	}
	return 0, fmt.Errorf("no %s for cgroup %s in the v1 hierarchies under %s: %w", usage, rel, c.Root, os.ErrNotExist)
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// readKeyed reads a flat keyed file ("key value" lines: memory.stat).
func readKeyed(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}
