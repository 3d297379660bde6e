package kubelet

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"minik8s/pkg/cgroup"
)

// cgroupUsage is what the resource metrics need of one cgroup: its
// cumulative CPU time and its memory working set.
type cgroupUsage struct {
	CPUNanos   uint64
	WorkingSet uint64
}

// readUsage reads the usage of the cgroup at rel (a cgroupsPath such as
// /minik8s/NODE/UID/ID) in fs, the host's cgroups (nil: none found).
func readUsage(fs *cgroup.FS, rel string) (cgroupUsage, error) {
	if fs == nil {
		return cgroupUsage{}, errors.New("no cgroup file system")
	}
	cpu, err := fs.CPUUsage(rel)
	if err != nil {
		return cgroupUsage{}, err
	}
	ws, err := fs.MemoryWorkingSet(rel)
	if err != nil {
		return cgroupUsage{}, err
	}
	return cgroupUsage{CPUNanos: uint64(cpu), WorkingSet: ws}, nil
}

// resourceStats serves the kubelet's /metrics/resource: the node's and
// each running container's CPU and memory, in the Prometheus text format
// and metric names metrics-server scrapes (and the apiserver's
// metrics.k8s.io, which reads it the same way).
type resourceStats struct {
	fs *cgroup.FS
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
			u, err := readUsage(s.fs, s.podCgroup(pod)+"/"+id)
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
	if u, err := readUsage(s.fs, s.nodeCgroup); err == nil {
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
