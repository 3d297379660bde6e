package manager

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"minik8s/pkg/apiserver/apiservertest"
)

func newDeployment(name string, n int32, image string) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	one := intstr.FromInt32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &one}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: image}}},
			},
		},
	}
}

// startManager runs the controller-manager until the returned stop is
// called; stop waits for it to return.
func startManager(t *testing.T, rc *rest.Config, controllers ...string) (stop func()) {
	t.Helper()
	cfg := NewConfig()
	cfg.Controllers = controllers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, rc, cfg) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("controller-manager: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// counts returns live (not terminating) pods and ready live pods.
func counts(ctx context.Context, client kubernetes.Interface, sel string) (int, int, error) {
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return 0, 0, err
	}
	live, ready := 0, 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		live++
		if podReady(p) {
			ready++
		}
	}
	return live, ready, nil
}

func waitDeployment(t *testing.T, ctx context.Context, client kubernetes.Interface, name string, timeout time.Duration, done func(*appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	var last *appsv1.Deployment
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		return done(d), nil
	})
	if err != nil {
		t.Fatalf("waiting for deployment %s: %v (last status %+v)", name, err, last.Status)
	}
	return last
}

func complete(d *appsv1.Deployment) bool {
	n := *d.Spec.Replicas
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.Replicas == n && s.AvailableReplicas == n
}

func TestRollingUpdateStaysWithinSurgeAndUnavailable(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	createNode(t, ctx, client, "node1")
	startManager(t, srv.Config, ReplicaSet, Deployment, GarbageCollector)
	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	go newFakeAgent(client, "default", "node1").run(agentCtx, t)

	d, err := client.AppsV1().Deployments("default").Create(ctx, newDeployment("web", 4, "minik8s/echo:1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitDeployment(t, ctx, client, "web", time.Minute, complete)

	// Sample while the template changes.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var (
		mu         sync.Mutex
		maxLive    int
		minReady   = 1 << 30
		samples    int
		violations []string
	)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for sampleCtx.Err() == nil {
			live, ready, err := counts(sampleCtx, client, "app=web")
			if err == nil {
				mu.Lock()
				samples++
				maxLive, minReady = max(maxLive, live), min(minReady, ready)
				if live > 5 || ready < 3 {
					violations = append(violations, fmt.Sprintf("live=%d ready=%d", live, ready))
				}
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	d, err = client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:2"
	if _, err := client.AppsV1().Deployments("default").Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	final := waitDeployment(t, ctx, client, "web", time.Minute, func(d *appsv1.Deployment) bool {
		return complete(d) && d.Status.UnavailableReplicas == 0
	})
	// Let the old ReplicaSet's pods finish going.
	_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		live, _, err := counts(ctx, client, "app=web")
		return err == nil && live == 4, nil
	})
	stopSampling()
	<-sampled
	t.Logf("samples=%d maxLive=%d minReady=%d", samples, maxLive, minReady)
	if len(violations) > 0 {
		t.Errorf("bounds violated (want live <= 5, ready >= 3): %v", violations)
	}
	if samples < 10 {
		t.Errorf("only %d samples taken", samples)
	}
	if final.Annotations["deployment.kubernetes.io/revision"] != "2" {
		t.Errorf("deployment revision = %q, want 2", final.Annotations["deployment.kubernetes.io/revision"])
	}
	rss, err := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rss.Items) != 2 {
		t.Fatalf("got %d replicasets, want 2", len(rss.Items))
	}
	for _, rs := range rss.Items {
		img := rs.Spec.Template.Spec.Containers[0].Image
		want := int32(0)
		if img == "minik8s/echo:2" {
			want = 4
		}
		if *rs.Spec.Replicas != want {
			t.Errorf("replicaset %s (%s) has %d replicas, want %d", rs.Name, img, *rs.Spec.Replicas, want)
		}
	}
	live, ready, _ := counts(ctx, client, "app=web")
	if live != 4 || ready != 4 {
		t.Errorf("after rollout: live=%d ready=%d, want 4/4", live, ready)
	}
}

func TestRestartDuringScaleUpNeverOvershoots(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	createNode(t, ctx, client, "node1")
	go newFakeAgent(client, "default", "node1").run(ctx, t)

	var (
		mu      sync.Mutex
		maxSeen int
	)
	go func() {
		for ctx.Err() == nil {
			pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=big"})
			if err == nil {
				mu.Lock()
				maxSeen = max(maxSeen, len(pods.Items))
				mu.Unlock()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()

	stop := startManager(t, srv.Config, "*", "-nodelifecycle", "-tainteviction")
	if _, err := client.AppsV1().Deployments("default").Create(ctx, newDeployment("big", 30, "minik8s/echo:1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Kill it in the middle of the scale-up.
	err := wait.PollUntilContextTimeout(ctx, 2*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=big"})
		return err == nil && len(pods.Items) >= 7, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stop()
	pods, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=big"})
	t.Logf("killed the controller-manager with %d pods", len(pods.Items))
	if len(pods.Items) >= 30 {
		t.Fatalf("scale-up finished before the kill (%d pods); the test proves nothing", len(pods.Items))
	}

	startManager(t, srv.Config, "*", "-nodelifecycle", "-tainteviction")
	waitDeployment(t, ctx, client, "big", time.Minute, complete)
	time.Sleep(2 * time.Second) // would a late duplicate appear?
	pods, err = client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=big"})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pods.Items) != 30 || maxSeen > 30 {
		t.Errorf("got %d pods (max ever %d), want exactly 30 and never more", len(pods.Items), maxSeen)
	}
}
