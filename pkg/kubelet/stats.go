package kubelet

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

// cgroupUsage is what the resource metrics need of one cgroup: its
// cumulative CPU time and its memory working set (usage less the
// inactive page cache, which the kernel reclaims first: the figure the
// kubelet evicts on and metrics-server reports).
type cgroupUsage struct {
	CPUNanos   uint64
	WorkingSet uint64
}

// cgroupFS reads usage from a cgroup file system mounted at Root, in the
// layout of cgroup v1 (one hierarchy per controller: cpuacct, memory) or
// v2 (one unified hierarchy).
type cgroupFS struct {
	Root string
	V2   bool
}

// detectCgroups tells the mode of the hierarchy at root: v2 has
// cgroup.controllers at its top, v1 a directory per controller.
func detectCgroups(root string) cgroupFS {
	_, err := os.Stat(filepath.Join(root, "cgroup.controllers"))
	return cgroupFS{Root: root, V2: err == nil}
}

// Read reads the usage of the cgroup at rel (a cgroupsPath such as
// /minik8s/NODE/UID/ID).
func (fs cgroupFS) Read(rel string) (cgroupUsage, error) {
	if fs.V2 {
		dir := filepath.Join(fs.Root, rel)
		stat, err := readKeyed(filepath.Join(dir, "cpu.stat"))
		if err != nil {
			return cgroupUsage{}, err
		}
		usec, ok := stat["usage_usec"]
		if !ok {
			return cgroupUsage{}, fmt.Errorf("%s: no usage_usec", filepath.Join(dir, "cpu.stat"))
		}
		cur, err := readUint(filepath.Join(dir, "memory.current"))
		if err != nil {
			return cgroupUsage{}, err
		}
		mem, err := readKeyed(filepath.Join(dir, "memory.stat"))
		if err != nil {
			return cgroupUsage{}, err
		}
		return cgroupUsage{CPUNanos: usec * 1000, WorkingSet: less(cur, mem["inactive_file"])}, nil
	}
	cpu, err := readUint(filepath.Join(fs.Root, "cpuacct", rel, "cpuacct.usage"))
	if err != nil {
		return cgroupUsage{}, err
	}
	usage, err := readUint(filepath.Join(fs.Root, "memory", rel, "memory.usage_in_bytes"))
	if err != nil {
		return cgroupUsage{}, err
	}
	mem, err := readKeyed(filepath.Join(fs.Root, "memory", rel, "memory.stat"))
	if err != nil {
		return cgroupUsage{}, err
	}
	return cgroupUsage{CPUNanos: cpu, WorkingSet: less(usage, mem["total_inactive_file"])}, nil
}

// less is a-b, floored at 0 as the kubelet floors the working set.
func less(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
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

// readKeyed reads a flat keyed file ("key value" lines: cpu.stat,
// memory.stat).
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

// resourceStats serves the kubelet's /metrics/resource: the node's and
// each running container's CPU and memory, in the Prometheus text format
// and metric names metrics-server scrapes (and the apiserver's
// metrics.k8s.io, which reads it the same way).
type resourceStats struct {
	fs cgroupFS
	// nodeCgroup is the cgroup all the node's pods run under: the node's
	// figures are its usage. Agents of a lab share a machine, so the
	// machine's root cgroup would count every node's pods on each.
	nodeCgroup string
	// pods are the node's pods, with their container statuses.
	pods func() []*v1.Pod
	// podCgroup is the cgroup of a pod's containers.
	podCgroup func(pod *v1.Pod) string
	now       func() time.Time
}

// sample is one series of the page.
type sample struct {
	labels string
	value  float64
}

func (s *resourceStats) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = s.write(w)
}

// write reads the cgroups and writes the page. A container whose cgroup
// cannot be read (it just stopped) is left out, as the kubelet leaves out
// containers without stats.
func (s *resourceStats) write(w io.Writer) error {
	ts := s.now().UnixMilli()
	var cpu, mem, start []sample
	var podCPU, podMem []sample
	pods := s.pods()
	sort.Slice(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	for _, pod := range pods {
		var pc cgroupUsage
		seen := false
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.State.Running == nil {
				continue
			}
			id, ok := strings.CutPrefix(cs.ContainerID, "containerd://")
			if !ok || id == "" {
				continue
			}
			u, err := s.fs.Read(s.podCgroup(pod) + "/" + id)
			if err != nil {
				continue
			}
			l := fmt.Sprintf(`{container=%q,namespace=%q,pod=%q}`, cs.Name, pod.Namespace, pod.Name)
			cpu = append(cpu, sample{l, float64(u.CPUNanos) / 1e9})
			mem = append(mem, sample{l, float64(u.WorkingSet)})
			start = append(start, sample{l, float64(cs.State.Running.StartedAt.Unix())})
			pc.CPUNanos += u.CPUNanos
			pc.WorkingSet += u.WorkingSet
			seen = true
		}
		if seen {
			l := fmt.Sprintf(`{namespace=%q,pod=%q}`, pod.Namespace, pod.Name)
			podCPU = append(podCPU, sample{l, float64(pc.CPUNanos) / 1e9})
			podMem = append(podMem, sample{l, float64(pc.WorkingSet)})
		}
	}
	var node cgroupUsage
	if u, err := s.fs.Read(s.nodeCgroup); err == nil {
		node = u
	}
	bw := bufio.NewWriter(w)
	family := func(name, typ, help string, samples []sample, withTS bool) {
		fmt.Fprintf(bw, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, x := range samples {
			if withTS {
				fmt.Fprintf(bw, "%s%s %s %d\n", name, x.labels, strconv.FormatFloat(x.value, 'g', -1, 64), ts)
			} else {
				fmt.Fprintf(bw, "%s%s %s\n", name, x.labels, strconv.FormatFloat(x.value, 'g', -1, 64))
			}
		}
	}
	family("container_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the container in core-seconds", cpu, true)
	family("container_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the container in bytes", mem, true)
	family("container_start_time_seconds", "gauge", "[STABLE] Start time of the container since unix epoch in seconds", start, false)
	family("node_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the node in core-seconds", []sample{{"", float64(node.CPUNanos) / 1e9}}, true)
	family("node_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the node in bytes", []sample{{"", float64(node.WorkingSet)}}, true)
	family("pod_cpu_usage_seconds_total", "counter", "[STABLE] Cumulative cpu time consumed by the pod in core-seconds", podCPU, true)
	family("pod_memory_working_set_bytes", "gauge", "[STABLE] Current working set of the pod in bytes", podMem, true)
	family("scrape_error", "gauge", "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise", []sample{{"", 0}}, false)
	return bw.Flush()
}
