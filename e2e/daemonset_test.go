//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var labNodes = []string{"node1", "node2", "node3"}

// echoDaemonSet runs minik8s/echo on every node, ready once it answers.
func echoDaemonSet(t *testing.T, ns string) {
	t.Helper()
	one := intstr.FromInt32(1)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(1)),
					Containers: []corev1.Container{{
						Name: "echo", Image: "minik8s/echo:latest", Args: []string{"--listen", ":8080"},
						Env: []corev1.EnvVar{{Name: "VERSION", Value: "1"}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
							PeriodSeconds: 1, FailureThreshold: 1,
						},
					}},
				},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one}},
		},
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Create(context.Background(), ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// daemonPodsByNode maps each node to the VERSION of its ready agent pods.
func daemonPodsByNode(ns string) (map[string][]string, error) {
	pods, err := readyPods(ns, "app=agent")
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range pods {
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Spec.Containers[0].Env[0].Value)
	}
	return out, nil
}

// allOn waits for one ready pod of version on every lab node and a status
// that says so.
func allOn(t *testing.T, ns, version string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "one ready agent pod of version "+version+" per node", func() error {
		byNode, err := daemonPodsByNode(ns)
		if err != nil {
			return err
		}
		for _, n := range labNodes {
			if !slices.Equal(byNode[n], []string{version}) {
				return fmt.Errorf("ready pods by node: %v", byNode)
			}
		}
		ds, err := cs.AppsV1().DaemonSets(ns).Get(context.Background(), "agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := ds.Status
		if s.ObservedGeneration < ds.Generation || s.DesiredNumberScheduled != 3 || s.NumberReady != 3 || s.UpdatedNumberScheduled != 3 || s.NumberAvailable != 3 {
			return fmt.Errorf("status %+v", s)
		}
		return nil
	})
}

func TestDaemonSetRollout(t *testing.T) {
	ns := namespace(t)
	echoDaemonSet(t, ns)
	allOn(t, ns, "1", 60*time.Second)

	patch := `{"spec":{"template":{"spec":{"containers":[{"name":"echo","env":[{"name":"VERSION","value":"2"}]}]}}}}`
	if _, err := cs.AppsV1().DaemonSets(ns).Patch(context.Background(), "agent", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	// maxUnavailable 1: at every look, at most one node lacks a ready pod.
	eventually(t, 60*time.Second, "rollout to version 2, node by node", func() error {
		byNode, err := daemonPodsByNode(ns)
		if err != nil {
			return err
		}
		if len(byNode) < 2 {
			t.Fatalf("%d nodes with a ready pod during the rollout, want at least 2: %v", len(byNode), byNode)
		}
		for _, n := range labNodes {
			if !slices.Equal(byNode[n], []string{"2"}) {
				return fmt.Errorf("ready pods by node: %v", byNode)
			}
		}
		return nil
	})
	allOn(t, ns, "2", 30*time.Second)
	if out, err := ctl("rollout", "status", "-n", ns, "daemonset/agent", "--timeout=30s"); err != nil || !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Errorf("rollout status: %v\n%s", err, out)
	}
	out, err := ctl("rollout", "history", "-n", ns, "daemonset/agent")
	if err != nil {
		t.Fatalf("rollout history: %v\n%s", err, out)
	}
	var revisions []string
	for _, l := range strings.Split(out, "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "REVISION" {
			revisions = append(revisions, f[0])
		}
	}
	if !slices.Equal(revisions, []string{"1", "2"}) {
		t.Errorf("rollout history lists revisions %v, want [1 2]:\n%s", revisions, out)
	}
	if out, err := ctl("rollout", "undo", "-n", ns, "daemonset/agent"); err != nil || !strings.Contains(out, "rolled back") {
		t.Fatalf("rollout undo: %v\n%s", err, out)
	}
	allOn(t, ns, "1", 60*time.Second)
	// 3 first pods, then 3 replaced twice.
	eventually(t, 10*time.Second, "9 SuccessfulCreate and 6 SuccessfulDelete events of the daemonset-controller", func() error {
		events, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.kind=DaemonSet,involvedObject.name=agent"})
		if err != nil {
			return err
		}
		reasons := map[string]int{}
		for _, e := range events.Items {
			if e.Source.Component == "daemonset-controller" {
				reasons[e.Reason] += int(max(e.Count, 1))
			}
		}
		if reasons["SuccessfulCreate"] != 9 || reasons["SuccessfulDelete"] != 6 {
			return fmt.Errorf("events by reason %v", reasons)
		}
		return nil
	})
	out, err = ctl("rollout", "history", "-n", ns, "daemonset/agent", "--revision=3")
	if err != nil || !strings.Contains(out, "VERSION:\t1") && !strings.Contains(out, "VERSION: 1") {
		t.Errorf("rollout history --revision=3 (the undone-to template, renumbered): %v\n%s", err, out)
	}
}

func TestDaemonSetNodePowerCycle(t *testing.T) {
	ns := namespace(t)
	echoDaemonSet(t, ns)
	allOn(t, ns, "1", 60*time.Second)
	t.Cleanup(func() {
		if err := nodeIsReady("node3", true); err != nil {
			ctl("lab", "node", "start", "node3")
		}
	})
	before := podOn(t, ns, "node3")
	if out, err := ctl("lab", "node", "stop", "node3"); err != nil {
		t.Fatalf("node stop: %v: %s", err, out)
	}
	eventually(t, 60*time.Second, "node3 NotReady", func() error { return nodeIsReady("node3", false) })
	// The pod stays bound to the unreachable node: it tolerates the
	// unreachable and not-ready taints forever (the apiserver's default
	// tolerationSeconds do not apply to it).
	if p := podOn(t, ns, "node3"); p != before {
		t.Errorf("got pod %q on the NotReady node3, want %q still there", p, before)
	}
	pod, err := cs.CoreV1().Pods(ns).Get(context.Background(), before, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{corev1.TaintNodeUnreachable, corev1.TaintNodeNotReady} {
		i := slices.IndexFunc(pod.Spec.Tolerations, func(tol corev1.Toleration) bool {
			return tol.Key == key && tol.Effect == corev1.TaintEffectNoExecute
		})
		if i < 0 || pod.Spec.Tolerations[i].TolerationSeconds != nil {
			t.Errorf("pod %s tolerations %+v, want %s:NoExecute without tolerationSeconds", before, pod.Spec.Tolerations, key)
		}
	}
	if out, err := ctl("lab", "node", "start", "node3"); err != nil {
		t.Fatalf("node start: %v: %s", err, out)
	}
	eventually(t, 60*time.Second, "node3 Ready again", func() error { return nodeIsReady("node3", true) })
	allOn(t, ns, "1", 60*time.Second)
	t.Logf("pod on node3 before the power cycle %s, after %s", before, podOn(t, ns, "node3"))
}

// podOn names the agent pod bound to node that is not being deleted.
func podOn(t *testing.T, ns, node string) string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=agent", FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			return p.Name
		}
	}
	return ""
}
