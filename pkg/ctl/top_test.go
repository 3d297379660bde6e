package ctl

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"
)

// TestTop: ctl top nodes and ctl top pods print what the apiserver's
// metrics.k8s.io computes from an agent's /metrics/resource (here one
// whose clock moves 10 s per scrape: the node at 2 cores, the pod at
// half a core).
func TestTop(t *testing.T) {
	isolate(t)
	ctx := context.Background()
	s := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) { c.MetricResolution = 50 * time.Millisecond })
	cs := kubernetes.NewForConfigOrDie(s.Config)
	var step atomic.Int64
	base := time.Now().Add(-time.Hour).UnixMilli()
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := step.Add(1)
		ts := base + n*10000
		fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=\"c\",namespace=\"default\",pod=\"busy\"} %d %d\n", 5*n, ts)
		fmt.Fprintf(w, "container_memory_working_set_bytes{container=\"c\",namespace=\"default\",pod=\"busy\"} 20971520 %d\n", ts)
		fmt.Fprintf(w, "node_cpu_usage_seconds_total %d %d\n", 20*n, ts)
		fmt.Fprintf(w, "node_memory_working_set_bytes 1073741824 %d\n", ts)
	}))
	defer agent.Close()
	apiservertest.ReadyNode(t, cs, "n1", agent.Listener.Addr().String(), nil, func(s *corev1.NodeStatus) {
		s.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("4Gi")}
		s.Allocatable = s.Capacity
	})
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod("busy", map[string]string{"app": "busy"}, "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc := metricsclient.NewForConfigOrDie(s.Config)
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 1, nil
	}); err != nil {
		t.Fatalf("no pod metrics: %v", err)
	}
	c := &cluster{t: t, server: s.URL, kubeconfig: s.Kubeconfig, client: cs, dir: t.TempDir()}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"top", "nodes"}, "n1 2000m 50% 1024Mi 25%"},
		{[]string{"top", "pods"}, "busy 500m 20Mi"},
		{[]string{"top", "pods", "-l", "app=busy", "--containers"}, "busy c 500m 20Mi"},
		{[]string{"top", "pods", "-A"}, "default busy 500m 20Mi"},
		// The server-side table, with metrics-server's columns.
		{[]string{"get", "nodes.metrics.k8s.io"}, "n1 2 1Gi 10s"},
		{[]string{"get", "pods.metrics.k8s.io", "busy"}, "busy 500m 20Mi 10s"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := c.ctl(tt.args...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || strings.Join(strings.Fields(lines[1]), " ") != tt.want {
				t.Errorf("got\n%s\nwant a header and %q", out, tt.want)
			}
		})
	}
}

// TestAutoscale: ctl autoscale makes an autoscaling/v2 autoscaler of the
// Deployment with the asked bounds and CPU target.
func TestAutoscale(t *testing.T) {
	c := startCluster(t)
	c.ctl("apply", "-f", c.file("web.yaml", webYAML))
	c.ctl("autoscale", "deployment", "web", "--cpu-percent=50", "--min=1", "--max=4")
	h, err := c.client.AutoscalingV2().HorizontalPodAutoscalers("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := h.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != "web" || ref.APIVersion != "apps/v1" {
		t.Errorf("got target %+v, want apps/v1 Deployment web", ref)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 1 || h.Spec.MaxReplicas != 4 {
		t.Errorf("got min %v max %d, want 1 and 4", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	if len(h.Spec.Metrics) != 1 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU ||
		h.Spec.Metrics[0].Resource.Target.AverageUtilization == nil || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != 50 {
		t.Errorf("got metrics %+v, want CPU at 50%%", h.Spec.Metrics)
	}
}
