package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// deploymentScaleRollout: a Deployment "web" in default scaled 0 -> n, then
// a rolling update of its n pods with maxSurge 25%.
func deploymentScaleRollout(ctx context.Context, client kubernetes.Interface, agent *agent, n int32, nodes int, qps float32, burst int) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating service: %w", err)
	}
	zero := int32(0)
	surge, unavail := intstr.FromString("25%"), intstr.FromString("25%")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: "minik8s/echo:1"}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating deployment: %w", err)
	}
	if _, err := waitFor(ctx, client, func(d *appsv1.Deployment) bool { return d.Status.ObservedGeneration >= d.Generation }); err != nil {
		return err
	}

	fmt.Printf("scale 0 -> %d (%d fake nodes, controller-manager QPS %.0f burst %d)\n", n, nodes, qps, burst)
	scale, err := client.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return err
	}
	scale.Spec.Replicas = n
	start := time.Now()
	if _, err := client.AppsV1().Deployments("default").UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scaling: %w", err)
	}
	// The watcher hands its one result over a channel: the main goroutine
	// reads it only after the watcher wrote it.
	existed := make(chan time.Duration, 1)
	go func() {
		for ctx.Err() == nil {
			if agent.live("default") >= int(n) {
				existed <- time.Since(start)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, err := waitFor(ctx, client, func(d *appsv1.Deployment) bool { return d.Status.AvailableReplicas == n }); err != nil {
		return err
	}
	availAt := time.Since(start)
	var existAt time.Duration
	select {
	case existAt = <-existed:
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Printf("  %d pods exist after        %v\n", n, existAt.Round(time.Millisecond))
	fmt.Printf("  status %d available after  %v\n", n, availAt.Round(time.Millisecond))

	fmt.Printf("rolling update of %d pods (maxSurge 25%%, maxUnavailable 25%%)\n", n)
	cur, err := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:2"
	var maxLive, minReady atomic.Int64
	minReady.Store(int64(n))
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		for sampleCtx.Err() == nil {
			l, r := agent.live("default"), agent.ready("default")
			if int64(l) > maxLive.Load() {
				maxLive.Store(int64(l))
			}
			if int64(r) < minReady.Load() {
				minReady.Store(int64(r))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	start = time.Now()
	if _, err := client.AppsV1().Deployments("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating image: %w", err)
	}
	final, err := waitFor(ctx, client, func(d *appsv1.Deployment) bool {
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.Replicas == n && s.AvailableReplicas == n
	})
	if err != nil {
		return err
	}
	doneAt := time.Since(start)
	stopSampling()
	fmt.Printf("  rollout complete after     %v (max live pods %d, min ready %d; bounds %d / %d)\n",
		doneAt.Round(time.Millisecond), maxLive.Load(), minReady.Load(), n+(n+3)/4, n-n/4)
	scaling := 0
	if evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range evs.Items {
			if e.Reason == "ScalingReplicaSet" {
				scaling++
			}
		}
	}
	fmt.Printf("  deployment revision %s, %d ScalingReplicaSet events\n", final.Annotations["deployment.kubernetes.io/revision"], scaling)
	slices, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	if err == nil {
		total := 0
		for _, s := range slices.Items {
			total += len(s.Endpoints)
		}
		fmt.Printf("  service web: %d EndpointSlices holding %d endpoints\n", len(slices.Items), total)
	}
	return nil
}

func waitFor(ctx context.Context, client kubernetes.Interface, cond func(*appsv1.Deployment) bool) (*appsv1.Deployment, error) {
	var last *appsv1.Deployment
	err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		return cond(d), nil
	})
	if err != nil {
		if last != nil {
			return nil, fmt.Errorf("waiting for deployment (status %+v): %w", last.Status, err)
		}
		return nil, err
	}
	return last, nil
}
