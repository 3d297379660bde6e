package apiserver

import (
	"strings"
	"testing"
	"time"

	"minik8s/pkg/api"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

func TestSeriesUsage(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1000+int64(s), 0) }
	tests := []struct {
		name       string
		points     []usagePoint
		wantOK     bool
		wantCPU    string
		wantMem    string
		wantWindow time.Duration
	}{
		{name: "one reading", points: []usagePoint{{cpu: 1, mem: 10, ts: at(0)}}},
		{
			name:   "two readings",
			points: []usagePoint{{cpu: 1, mem: 10, ts: at(0)}, {cpu: 8.5, mem: 2048, ts: at(15)}},
			wantOK: true, wantCPU: "500m", wantMem: "2Ki", wantWindow: 15 * time.Second,
		},
		{
			name:   "the last two of three",
			points: []usagePoint{{cpu: 0, ts: at(0)}, {cpu: 10, ts: at(10)}, {cpu: 12, mem: 1, ts: at(20)}},
			wantOK: true, wantCPU: "200m", wantMem: "1", wantWindow: 10 * time.Second,
		},
		{
			name:   "a repeated reading is ignored",
			points: []usagePoint{{cpu: 0, ts: at(0)}, {cpu: 4, ts: at(10)}, {cpu: 4, ts: at(10)}},
			wantOK: true, wantCPU: "400m", wantMem: "0", wantWindow: 10 * time.Second,
		},
		{
			name:   "a restart starts over",
			points: []usagePoint{{cpu: 5, ts: at(0)}, {cpu: 9, ts: at(10)}, {cpu: 1, ts: at(20)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s series
			for _, p := range tt.points {
				s.add(p)
			}
			cpu, mem, window, ok := s.usage()
			if ok != tt.wantOK {
				t.Fatalf("got ok %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if want := resource.MustParse(tt.wantCPU); cpu.Cmp(want) != 0 {
				t.Errorf("got cpu %s, want %s", cpu.String(), tt.wantCPU)
			}
			if want := resource.MustParse(tt.wantMem); mem.Cmp(want) != 0 {
				t.Errorf("got memory %s, want %s", mem.String(), tt.wantMem)
			}
			if window != tt.wantWindow {
				t.Errorf("got window %v, want %v", window, tt.wantWindow)
			}
		})
	}
}

func TestParseResourceMetrics(t *testing.T) {
	page := `# HELP container_cpu_usage_seconds_total x
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="ns",pod="web"} 2.5 1700000000123
container_cpu_usage_seconds_total{container="nomem",namespace="ns",pod="web"} 1 1700000000123
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="app",namespace="ns",pod="web"} 4096 1700000000123
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 30
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1e+06 1700000000000
`
	now := time.Unix(5, 0)
	node, containers, err := parseResourceMetrics(strings.NewReader(page), now)
	if err != nil {
		t.Fatal(err)
	}
	if want := (usagePoint{cpu: 30, mem: 1e6, ts: now}); node != want {
		t.Errorf("got node %+v, want %+v", node, want)
	}
	want := map[containerKey]usagePoint{
		{"ns", "web", "app"}: {cpu: 2.5, mem: 4096, ts: time.UnixMilli(1700000000123)},
	}
	if len(containers) != len(want) {
		t.Errorf("got %d containers (%+v), want %d", len(containers), containers, len(want))
	}
	for k, w := range want {
		if got := containers[k]; got != w {
			t.Errorf("container %+v: got %+v, want %+v", k, got, w)
		}
	}

	for _, bad := range []string{"", "garbage{", "node_cpu_usage_seconds_total 1\n"} {
		if _, _, err := parseResourceMetrics(strings.NewReader(bad), now); err == nil {
			t.Errorf("page %q: got no error, want one", bad)
		}
	}
}

func TestMetricsTable(t *testing.T) {
	cpu := func(s string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(s), corev1.ResourceMemory: resource.MustParse("1Mi")}
	}
	pod := &metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Window:     metav1.Duration{Duration: 15 * time.Second},
		Containers: []metricsv1beta1.ContainerMetrics{{Name: "a", Usage: cpu("100m")}, {Name: "b", Usage: cpu("250m")}},
	}
	node := &metricsv1beta1.NodeMetrics{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Window: metav1.Duration{Duration: 20 * time.Second}, Usage: cpu("1")}
	tbl, err := metricsTable{}.Table([]runtime.Object{pod, node}, api.TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(tbl.ColumnDefinitions), 4; got != want {
		t.Fatalf("got %d columns, want %d", got, want)
	}
	wantRows := [][]any{{"web", "350m", "2Mi", "15s"}, {"n1", "1", "1Mi", "20s"}}
	for i, w := range wantRows {
		for j := range w {
			if got := tbl.Rows[i].Cells[j]; got != w[j] {
				t.Errorf("row %d cell %d: got %v, want %v", i, j, got, w[j])
			}
		}
	}
}
