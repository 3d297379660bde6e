package kubelet

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"minik8s/pkg/cgroup"
)

// writeFiles writes files (path relative to root → content).
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeCgroups is the cgroup file system of files laid out under root: v2
// when root has cgroup.controllers at its top, else the v1 hierarchies
// cpuacct and memory.
func fakeCgroups(root string) *cgroup.FS {
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err == nil {
		return cgroup.NewFS(root, cgroup.V2)
	}
	return cgroup.NewFS(root, cgroup.V1, filepath.Join(root, "cpuacct"), filepath.Join(root, "memory"))
}

func TestCgroupFSRead(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  cgroupUsage
	}{
		{
			name: "v1",
			files: map[string]string{
				"cpuacct/n/c/cpuacct.usage":        "2500000000\n",
				"memory/n/c/memory.usage_in_bytes": "10000\n",
				"memory/n/c/memory.stat":           "cache 9000\ninactive_file 1\ntotal_inactive_file 4000\n",
			},
			want: cgroupUsage{CPUNanos: 2500000000, WorkingSet: 6000},
		},
		{
			name: "v1 inactive above usage",
			files: map[string]string{
				"cpuacct/n/c/cpuacct.usage":        "1\n",
				"memory/n/c/memory.usage_in_bytes": "100\n",
				"memory/n/c/memory.stat":           "total_inactive_file 4000\n",
			},
			want: cgroupUsage{CPUNanos: 1, WorkingSet: 0},
		},
		{
			name: "v2",
			files: map[string]string{
				"cgroup.controllers":     "cpu memory\n",
				"n/c/cpu.stat":           "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
				"n/c/memory.current":     "8192\n",
				"n/c/memory.stat":        "anon 4096\ninactive_file 1024\n",
				"n/c/cgroup.controllers": "",
			},
			want: cgroupUsage{CPUNanos: 1500000, WorkingSet: 7168},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeFiles(t, root, tt.files)
			got, err := readUsage(fakeCgroups(root), "/n/c")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCgroupFSReadMissing(t *testing.T) {
	if _, err := readUsage(fakeCgroups(t.TempDir()), "/gone"); err == nil {
		t.Errorf("got no error reading a missing cgroup, want one")
	}
}

func TestResourceStatsPage(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"cpuacct/node/cpuacct.usage":               "3000000000",
		"memory/node/memory.usage_in_bytes":        "900",
		"memory/node/memory.stat":                  "total_inactive_file 100",
		"cpuacct/node/u1/abc/cpuacct.usage":        "2000000000",
		"memory/node/u1/abc/memory.usage_in_bytes": "500",
		"memory/node/u1/abc/memory.stat":           "total_inactive_file 0",
	})
	started := metav1.NewTime(time.Unix(1000, 0))
	pods := []*v1.Pod{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "u1"},
			Status: v1.PodStatus{ContainerStatuses: []v1.ContainerStatus{
				{Name: "app", ContainerID: "containerd://abc", State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: started}}},
				{Name: "done", ContainerID: "containerd://def", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{}}},
			}},
		},
		{
			// Running, but its cgroup is gone: left out.
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "gone", UID: "u2"},
			Status: v1.PodStatus{ContainerStatuses: []v1.ContainerStatus{
				{Name: "app", ContainerID: "containerd://xyz", State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: started}}},
			}},
		},
	}
	s := &resourceStats{
		fs:         fakeCgroups(root),
		nodeCgroup: "/node",
		pods:       func() []*v1.Pod { return pods },
		podCgroup:  func(p *v1.Pod) string { return "/node/" + string(p.UID) },
		now:        func() time.Time { return time.UnixMilli(1700000000123) },
	}
	var buf bytes.Buffer
	if err := s.write(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		`container_cpu_usage_seconds_total{container="app",namespace="ns",pod="web"} 2 1700000000123`,
		`container_memory_working_set_bytes{container="app",namespace="ns",pod="web"} 500 1700000000123`,
		`container_start_time_seconds{container="app",namespace="ns",pod="web"} 1000`,
		`pod_cpu_usage_seconds_total{namespace="ns",pod="web"} 2 1700000000123`,
		`node_cpu_usage_seconds_total 3 1700000000123`,
		`node_memory_working_set_bytes 800 1700000000123`,
	} {
		if !strings.Contains(page, want+"\n") {
			t.Errorf("page lacks %q; got:\n%s", want, page)
		}
	}
	for _, not := range []string{`container="done"`, `pod="gone"`} {
		if strings.Contains(page, not) {
			t.Errorf("page has %s, want it left out; got:\n%s", not, page)
		}
	}
}
