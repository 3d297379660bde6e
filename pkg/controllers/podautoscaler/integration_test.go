package podautoscaler_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/controllers/podautoscaler"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// agent serves /metrics/resource for one container "app" per pod, each
// burning cores[pod] CPUs; every scrape advances its clock 10 s, so the
// rates the apiserver computes are exact.
type agent struct {
	mu    sync.Mutex
	cores map[string]float64
	used  map[string]float64
	step  int64
	// base is the clock's start.
	base time.Time
}

func (a *agent) set(pod string, cores float64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.cores[pod] = cores
}

func (a *agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.step++
	ts := a.base.UnixMilli() + a.step*10000
	fmt.Fprintf(w, "# TYPE container_cpu_usage_seconds_total counter\n")
	for pod, c := range a.cores {
		a.used[pod] += c * 10
		fmt.Fprintf(w, "container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=%q} %g %d\n", pod, a.used[pod], ts)
	}
	fmt.Fprintf(w, "# TYPE container_memory_working_set_bytes gauge\n")
	for pod := range a.cores {
		fmt.Fprintf(w, "container_memory_working_set_bytes{container=\"app\",namespace=\"default\",pod=%q} 1048576 %d\n", pod, ts)
	}
	fmt.Fprintf(w, "# TYPE node_cpu_usage_seconds_total counter\nnode_cpu_usage_seconds_total %d %d\n", a.step, ts)
	fmt.Fprintf(w, "# TYPE node_memory_working_set_bytes gauge\nnode_memory_working_set_bytes 1 %d\n", ts)
}

// TestScalesOnCPU: an autoscaler of a Deployment whose one pod uses five
// times its CPU request (target 50%) scales it to its maximum, 4, and back
// to 1 when the pod goes idle (scale-down stabilization 0), reading the
// apiserver's metrics.k8s.io.
func TestScalesOnCPU(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) { c.MetricResolution = 50 * time.Millisecond })
	cs := kubernetes.NewForConfigOrDie(srv.Config)

	a := &agent{cores: map[string]float64{"burn-0": 0.5}, used: map[string]float64{}, base: time.Now().Add(-time.Hour)}
	fake := httptest.NewServer(a)
	defer fake.Close()
	apiservertest.ReadyNode(t, cs, "n1", fake.Listener.Addr().String(), nil, nil)

	labels := map[string]string{"app": "burn"}
	container := corev1.Container{Name: "app", Image: "toolbox", Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{container}}},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The Deployment's pod, as its controllers and agent would leave it:
	// running and ready for long enough that its CPU counts.
	long := metav1.NewTime(time.Now().Add(-10 * time.Minute))
	pod, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "burn-0", Namespace: "default", Labels: labels},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{container}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		StartTime:  &long,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: long}},
	}
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "burn"},
			MinReplicas:    ptr.To[int32](1),
			MaxReplicas:    4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To[int32](0)}},
		},
	}
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cfg := podautoscaler.DefaultConfig()
	cfg.SyncPeriod = 200 * time.Millisecond
	factory := informers.NewSharedInformerFactory(cs, 0)
	c, err := podautoscaler.New(ctx, srv.Config, cs, factory, cfg)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	defer func() { cancel(); <-done; factory.Shutdown() }()

	replicas := func(want int32) {
		t.Helper()
		var got int32
		if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			d, err := cs.AppsV1().Deployments("default").Get(ctx, "burn", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			got = *d.Spec.Replicas
			return got == want, nil
		}); err != nil {
			h, _ := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(context.Background(), "burn", metav1.GetOptions{})
			t.Fatalf("got %d replicas, want %d; autoscaler status %+v", got, want, h.Status)
		}
	}
	replicas(4)
	// The controller writes the target's scale before its own status, so
	// the status that says why may come a moment after the new replicas.
	var h *autoscalingv2.HorizontalPodAutoscaler
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		if h, err = cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "burn", metav1.GetOptions{}); err != nil {
			return false, nil
		}
		return len(h.Status.CurrentMetrics) == 1 && h.Status.CurrentMetrics[0].Resource != nil &&
			ptr.Deref(h.Status.CurrentMetrics[0].Resource.Current.AverageUtilization, 0) == 500, nil
	}); err != nil {
		if h == nil {
			t.Fatalf("reading the autoscaler: %v", err)
		}
		t.Errorf("got current metrics %+v, want CPU at 500%%", h.Status.CurrentMetrics)
	}

	a.set("burn-0", 0.01)
	replicas(1)
}
