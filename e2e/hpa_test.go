//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestHPAScalesOnCPU: a Deployment whose one pod burns three times its
// CPU request (a busy shell loop held to 150m by its limit, request 50m)
// under an autoscaler of target 50% grows to at least 3 replicas, on the
// usage the agents read from their cgroups and the apiserver serves as
// metrics.k8s.io; ctl top shows it. When the pods go idle (the command
// patched to a sleep), the autoscaler (scale-down stabilization 0) brings
// it back to 1.
func TestHPAScalesOnCPU(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "burn"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "burn"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers: []corev1.Container{{
						Name: "burn", Image: "minik8s/toolbox:latest",
						Command: []string{"sh", "-c", "while :; do :; done"},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("150m")},
						},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "burn"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "burn"},
			MinReplicas:    ptr(int32(1)),
			MaxReplicas:    4,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(50))}}}},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr(int32(0))},
			},
		},
	}
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "burn", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		var conds []string
		for _, c := range h.Status.Conditions {
			conds = append(conds, fmt.Sprintf("%s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message))
		}
		return fmt.Sprintf("current %d desired %d metrics %+v conditions %v", h.Status.CurrentReplicas, h.Status.DesiredReplicas, h.Status.CurrentMetrics, conds)
	}
	replicas := func() (int32, error) {
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, "burn", metav1.GetOptions{})
		if err != nil {
			return 0, err
		}
		return *got.Spec.Replicas, nil
	}

	eventually(t, 4*time.Minute, "the autoscaler scaling burn to at least 3", func() error {
		n, err := replicas()
		if err != nil {
			return err
		}
		if n < 3 {
			return fmt.Errorf("%d replicas; autoscaler: %s", n, status())
		}
		return nil
	})
	t.Logf("scaled up: %s", status())

	// ctl top prints what the agents measured: every node a row of
	// numbers, and the burning pods well above zero.
	nodeRow := regexp.MustCompile(`^node\d+\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%$`)
	var topNodes, topPods string
	eventually(t, time.Minute, "ctl top nodes with a row of numbers per node", func() error {
		out, err := ctl("top", "nodes")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		topNodes = out
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 {
			return fmt.Errorf("want a header and 3 nodes, got:\n%s", out)
		}
		for _, l := range lines[1:] {
			if !nodeRow.MatchString(strings.TrimSpace(l)) {
				return fmt.Errorf("row %q is not a node's numbers:\n%s", l, out)
			}
		}
		return nil
	})
	podRow := regexp.MustCompile(`^burn-\S+\s+(\d+)m\s+\d+Mi$`)
	eventually(t, time.Minute, "ctl top pods with burning pods", func() error {
		out, err := ctl("top", "pods", "-n", ns, "-l", "app=burn")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		topPods = out
		burning := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			m := podRow.FindStringSubmatch(strings.TrimSpace(l))
			if m == nil {
				return fmt.Errorf("row %q is not a pod's numbers:\n%s", l, out)
			}
			if milli, _ := strconv.Atoi(m[1]); milli >= 10 {
				burning++
			}
		}
		if burning == 0 {
			return fmt.Errorf("no pod burning CPU:\n%s", out)
		}
		return nil
	})

	t.Logf("ctl top nodes:\n%s\nctl top pods:\n%s", topNodes, topPods)

	// Stop the load: the pods are replaced by idle ones.
	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"burn","command":["sleep","3600"]}]}}}}`
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "burn", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 4*time.Minute, "the autoscaler scaling burn back to 1", func() error {
		n, err := replicas()
		if err != nil {
			return err
		}
		if n != 1 {
			return fmt.Errorf("%d replicas; autoscaler: %s", n, status())
		}
		return nil
	})
	t.Logf("scaled down: %s", status())
}
