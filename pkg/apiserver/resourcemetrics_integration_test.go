package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// fakeAgent serves /metrics/resource as an agent would: every scrape one
// step further, each container burning cores[name] CPUs and the node
// 2 CPUs, at timestamps one step (10 s) apart, so that the rates are
// exact whatever the real time between scrapes.
func fakeAgent(t *testing.T, ns string, pods map[string]float64) *httptest.Server {
	var step atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics/resource" {
			http.NotFound(w, r)
			return
		}
		n := step.Add(1)
		ts := 1700000000000 + n*10000
		fmt.Fprintf(w, "# TYPE container_cpu_usage_seconds_total counter\n")
		for pod, cores := range pods {
			fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=\"app\",namespace=%q,pod=%q} %g %d\n", ns, pod, cores*10*float64(n), ts)
		}
		fmt.Fprintf(w, "# TYPE container_memory_working_set_bytes gauge\n")
		for pod := range pods {
			fmt.Fprintf(w, "container_memory_working_set_bytes{container=\"app\",namespace=%q,pod=%q} 1048576 %d\n", ns, pod, ts)
		}
		fmt.Fprintf(w, "# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total %d %d\n", 20*n, ts)
		fmt.Fprintf(w, "# TYPE node_memory_working_set_bytes gauge\nnode_memory_working_set_bytes 1073741824 %d\n", ts)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestResourceMetricsAPI(t *testing.T) {
	ctx := context.Background()
	s := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) { c.MetricResolution = 50 * time.Millisecond })
	cs := kubernetes.NewForConfigOrDie(s.Config)
	mc := metricsclient.NewForConfigOrDie(s.Config)
	agent := fakeAgent(t, "default", map[string]float64{"busy": 0.5, "idle": 0.001})
	apiservertest.ReadyNode(t, cs, "n1", agent.Listener.Addr().String(), map[string]string{"zone": "a"}, nil)
	for name, app := range map[string]string{"busy": "burn", "idle": "sleep"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "toolbox"}}},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Two scrapes make the first rates.
	var list *metricsv1beta1.PodMetricsList
	var err error
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err = mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == 2, nil
	}); err != nil {
		t.Fatalf("pod metrics of both pods never came: last list %+v, err %v", list, err)
	}

	t.Run("pod by label", func(t *testing.T) {
		got, err := mc.MetricsV1beta1().PodMetricses("default").List(ctx, metav1.ListOptions{LabelSelector: "app=burn"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Items) != 1 || got.Items[0].Name != "busy" {
			t.Fatalf("got %+v, want the one pod busy", got.Items)
		}
		pm := got.Items[0]
		if pm.Labels["app"] != "burn" {
			t.Errorf("got labels %v, want the pod's", pm.Labels)
		}
		if len(pm.Containers) != 1 || pm.Containers[0].Name != "app" {
			t.Fatalf("got containers %+v, want app", pm.Containers)
		}
		cpu, mem := pm.Containers[0].Usage[corev1.ResourceCPU], pm.Containers[0].Usage[corev1.ResourceMemory]
		if want := resource.MustParse("500m"); cpu.Cmp(want) != 0 {
			t.Errorf("got cpu %s, want 500m", cpu.String())
		}
		if want := resource.MustParse("1Mi"); mem.Cmp(want) != 0 {
			t.Errorf("got memory %s, want 1Mi", mem.String())
		}
		if pm.Window.Duration != 10*time.Second {
			t.Errorf("got window %v, want 10s", pm.Window.Duration)
		}
	})
	t.Run("pod get", func(t *testing.T) {
		pm, err := mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "idle", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cpu := pm.Containers[0].Usage[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("1m")) != 0 {
			t.Errorf("got cpu %s, want 1m", cpu.String())
		}
		_, err = mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "nosuch", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("get of a pod that does not exist: got %v, want NotFound", err)
		}
		all, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{})
		if err != nil || len(all.Items) != 2 {
			t.Errorf("list in all namespaces: got %v, %v, want the 2 pods", all, err)
		}
		other, err := mc.MetricsV1beta1().PodMetricses("kube-system").List(ctx, metav1.ListOptions{})
		if err != nil || len(other.Items) != 0 {
			t.Errorf("list in another namespace: got %v, %v, want none", other, err)
		}
	})
	t.Run("node", func(t *testing.T) {
		nm, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, "n1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cpu := nm.Usage[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("2")) != 0 {
			t.Errorf("got node cpu %s, want 2", cpu.String())
		}
		if mem := nm.Usage[corev1.ResourceMemory]; mem.Cmp(resource.MustParse("1Gi")) != 0 {
			t.Errorf("got node memory %s, want 1Gi", mem.String())
		}
		l, err := mc.MetricsV1beta1().NodeMetricses().List(ctx, metav1.ListOptions{LabelSelector: "zone=b"})
		if err != nil || len(l.Items) != 0 {
			t.Errorf("list by a label no node has: got %v, %v, want none", l, err)
		}
	})
	t.Run("read only", func(t *testing.T) {
		err := mc.MetricsV1beta1().RESTClient().Delete().Resource("nodes").Name("n1").Do(ctx).Error()
		if !apierrors.IsMethodNotSupported(err) {
			t.Errorf("delete: got %v, want MethodNotSupported", err)
		}
	})
	t.Run("discovery", func(t *testing.T) {
		rl, err := cs.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]bool{}
		for _, r := range rl.APIResources {
			got[r.Name+"/"+r.Kind+"/"+strconv.FormatBool(r.Namespaced)] = true
		}
		for _, want := range []string{"nodes/NodeMetrics/false", "pods/PodMetrics/true"} {
			if !got[want] {
				t.Errorf("discovery lacks %s: got %v", want, got)
			}
		}
		_, lists, err := cs.Discovery().ServerGroupsAndResources()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, l := range lists {
			found = found || l.GroupVersion == "metrics.k8s.io/v1beta1"
		}
		if !found {
			t.Errorf("aggregated discovery lacks metrics.k8s.io/v1beta1")
		}
	})
	t.Run("HPA controller may list pod metrics", func(t *testing.T) {
		hpa := &user.DefaultInfo{Name: "system:serviceaccount:kube-system:horizontal-pod-autoscaler", Groups: []string{"system:serviceaccounts", "system:authenticated"}}
		d, _, err := s.Server.Authorizer().Authorize(ctx, authorizer.AttributesRecord{
			User: hpa, Verb: "list", APIGroup: "metrics.k8s.io", Resource: "pods", Namespace: "default", ResourceRequest: true,
		})
		if err != nil || d != authorizer.DecisionAllow {
			t.Errorf("got %v (%v), want allowed", d, err)
		}
	})
}
