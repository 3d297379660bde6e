package daemonset_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/controllers/daemonset"
	"minik8s/pkg/scheduler"
)

type cluster struct {
	t      *testing.T
	ctx    context.Context
	client kubernetes.Interface
}

// startCluster runs a real apiserver, our scheduler and the DaemonSet
// controller; the test plays the kubelets.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := scheduler.NewConfig()
	cfg.BackoffInitial, cfg.BackoffMax = 100*time.Millisecond, 400*time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	sched := scheduler.New(client, cfg)
	schedDone := make(chan error, 1)
	go func() { schedDone <- sched.Run(ctx) }()

	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster()
	c := daemonset.New(client, factory, broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "daemonset-controller"}))
	factory.Start(ctx.Done())
	ctrlDone := make(chan struct{})
	go func() { c.Run(ctx, 2); close(ctrlDone) }()
	t.Cleanup(func() {
		cancel()
		<-ctrlDone
		factory.Shutdown()
		broadcaster.Shutdown()
		if err := <-schedDone; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	return &cluster{t: t, ctx: ctx, client: client}
}

func (c *cluster) node(name string, mods ...func(*corev1.Node)) {
	c.t.Helper()
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")}
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status:     corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}
	for _, m := range mods {
		m(n)
	}
	if _, err := c.client.CoreV1().Nodes().Create(c.ctx, n, metav1.CreateOptions{}); err != nil {
		c.t.Fatalf("creating node %s: %v", name, err)
	}
}

// kubelet makes every bound pod running and ready, and finishes deleting
// pods marked for deletion, as the nodes' agents would.
func (c *cluster) kubelet() {
	pods, err := c.client.CoreV1().Pods("default").List(c.ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			zero := int64(0)
			_ = c.client.CoreV1().Pods("default").Delete(c.ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}})
			continue
		}
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodRunning {
			continue
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		_, _ = c.client.CoreV1().Pods("default").UpdateStatus(c.ctx, &p, metav1.UpdateOptions{})
	}
}

// eventually polls cond, playing the kubelets between tries.
func (c *cluster) eventually(what string, cond func() (bool, string)) {
	c.t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(c.ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		c.kubelet()
		ok, state := cond()
		last = state
		return ok, nil
	})
	if err != nil {
		c.t.Fatalf("waiting for %s: %v; last: %s", what, err, last)
	}
}

// podsByNode maps node names to the images of the pods there.
func (c *cluster) podsByNode() map[string][]string {
	pods, err := c.client.CoreV1().Pods("default").List(c.ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range pods.Items {
		out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Spec.Containers[0].Image)
	}
	return out
}

func (c *cluster) ds() *appsv1.DaemonSet {
	c.t.Helper()
	ds, err := c.client.AppsV1().DaemonSets("default").Get(c.ctx, "agent", metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return ds
}

func (c *cluster) rolledOut(image string) func() (bool, string) {
	return func() (bool, string) {
		byNode := c.podsByNode()
		ds := c.ds()
		done := ds.Status.ObservedGeneration == ds.Generation && ds.Status.UpdatedNumberScheduled == ds.Status.DesiredNumberScheduled &&
			ds.Status.NumberAvailable == ds.Status.DesiredNumberScheduled
		for node, images := range byNode {
			done = done && node != "" && slices.Equal(images, []string{image})
		}
		return done, fmt.Sprintf("pods %v, status %+v", byNode, ds.Status)
	}
}

func TestDaemonSetOnARealAPIServer(t *testing.T) {
	c := startCluster(t)
	c.node("n1")
	c.node("n2")
	c.node("tainted", func(n *corev1.Node) {
		n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	})
	one := intstr.FromInt32(1)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one}},
		},
	}
	if _, err := c.client.AppsV1().DaemonSets("default").Create(c.ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("one ready pod on each untainted node", func() (bool, string) {
		byNode := c.podsByNode()
		s := c.ds().Status
		return len(byNode) == 2 && len(byNode["n1"]) == 1 && len(byNode["n2"]) == 1 && s.NumberReady == 2 && s.DesiredNumberScheduled == 2,
			fmt.Sprintf("pods %v, status %+v", byNode, s)
	})
	pods, _ := c.client.CoreV1().Pods("default").List(c.ctx, metav1.ListOptions{})
	revs, _ := c.client.AppsV1().ControllerRevisions("default").List(c.ctx, metav1.ListOptions{})
	if len(revs.Items) != 1 {
		t.Fatalf("got %d revisions, want 1", len(revs.Items))
	}
	hash := revs.Items[0].Labels[appsv1.ControllerRevisionHashLabelKey]
	for _, p := range pods.Items {
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] != hash || p.Labels["pod-template-generation"] != "1" {
			t.Errorf("pod %s has labels %v, want controller-revision-hash %s and pod-template-generation 1", p.Name, p.Labels, hash)
		}
	}

	// A new template rolls node by node.
	setImage := func(img string) {
		t.Helper()
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, img)
		if _, err := c.client.AppsV1().DaemonSets("default").Patch(c.ctx, "agent", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	setImage("img:2")
	c.eventually("all pods on img:2", c.rolledOut("img:2"))
	if got := c.ds().Status.ObservedGeneration; got != 2 {
		t.Errorf("got observedGeneration %d, want 2", got)
	}

	// kubectl's rollout history, status and undo read the revisions.
	gk := appsv1.SchemeGroupVersion.WithKind("DaemonSet").GroupKind()
	viewer, err := polymorphichelpers.HistoryViewerFor(gk, c.client)
	if err != nil {
		t.Fatal(err)
	}
	history, err := viewer.ViewHistory("default", "agent", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(history, "REVISION") || !strings.Contains(history, "1 ") || !strings.Contains(history, "2 ") {
		t.Errorf("rollout history lists no revisions 1 and 2:\n%s", history)
	}
	detail, err := viewer.ViewHistory("default", "agent", 1)
	if err != nil || !strings.Contains(detail, "img:1") {
		t.Errorf("rollout history --revision=1: %v\n%s", err, detail)
	}
	statusViewer, err := polymorphichelpers.StatusViewerFor(gk)
	if err != nil {
		t.Fatal(err)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c.ds())
	if err != nil {
		t.Fatal(err)
	}
	if msg, done, err := statusViewer.Status(&unstructured.Unstructured{Object: u}, 0); err != nil || !done || msg != "daemon set \"agent\" successfully rolled out\n" {
		t.Errorf("rollout status: %q, done %v, err %v", msg, done, err)
	}
	rollbacker, err := polymorphichelpers.RollbackerFor(gk, c.client)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := rollbacker.Rollback(c.ds(), nil, 0, cmdutil.DryRunNone); err != nil || msg != "rolled back" {
		t.Fatalf("rollout undo: %q, %v", msg, err)
	}
	c.eventually("all pods back on img:1", c.rolledOut("img:1"))
	revs, _ = c.client.AppsV1().ControllerRevisions("default").List(c.ctx, metav1.ListOptions{})
	got := map[string]int64{}
	for _, r := range revs.Items {
		got[r.Labels[appsv1.ControllerRevisionHashLabelKey]] = r.Revision
	}
	if len(got) != 2 || got[hash] != 3 {
		t.Errorf("got revisions %v, want 2 with %s (img:1) renumbered 3", got, hash)
	}

	// A new node gets its pod; a node that stops qualifying loses it.
	c.node("n3")
	c.eventually("a pod on the new node", func() (bool, string) {
		byNode := c.podsByNode()
		return len(byNode["n3"]) == 1 && c.ds().Status.NumberReady == 3, fmt.Sprint(byNode)
	})
	n1, err := c.client.CoreV1().Nodes().Get(c.ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n1.Spec.Taints = []corev1.Taint{{Key: "evict", Effect: corev1.TaintEffectNoExecute}}
	if _, err := c.client.CoreV1().Nodes().Update(c.ctx, n1, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.eventually("the pod gone from the NoExecute-tainted node", func() (bool, string) {
		byNode := c.podsByNode()
		s := c.ds().Status
		return len(byNode["n1"]) == 0 && s.DesiredNumberScheduled == 2 && s.NumberMisscheduled == 0, fmt.Sprintf("pods %v, status %+v", byNode, s)
	})
}
