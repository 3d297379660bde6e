package statefulset

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/ctl"
)

// cluster is a real API server with the StatefulSet controller running
// against it; tests play the kubelet by writing pod status.
type cluster struct {
	t          *testing.T
	ctx        context.Context
	kubeconfig string
	client     kubernetes.Interface
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	c := New(client, factory, broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "statefulset-controller"}))
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx, 2) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		factory.Shutdown()
		broadcaster.Shutdown()
	})
	return &cluster{t: t, ctx: ctx, kubeconfig: srv.Kubeconfig, client: client}
}

// ctl runs ctl in-process against the cluster.
func (c *cluster) ctl(args ...string) string {
	c.t.Helper()
	home := c.t.TempDir()
	c.t.Setenv("HOME", home)
	c.t.Setenv("KUBECONFIG", "")
	c.t.Setenv("KUBECACHEDIR", filepath.Join(home, "cache"))
	var out, errOut bytes.Buffer
	cmd := ctl.NewCommandWithStreams(context.Background(), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(append(args, "--kubeconfig", c.kubeconfig))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	if err := cmd.Execute(); err != nil {
		c.t.Fatalf("ctl %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

func (c *cluster) waitFor(what string, cond func() (bool, error)) {
	c.t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(c.ctx, 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		c.t.Fatalf("waiting for %s: %v (last error %v)", what, err, last)
	}
}

func (c *cluster) set() *appsv1.StatefulSet {
	c.t.Helper()
	s, err := c.client.AppsV1().StatefulSets("default").Get(c.ctx, "web", metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func (c *cluster) pods() map[string]*corev1.Pod {
	c.t.Helper()
	list, err := c.client.CoreV1().Pods("default").List(c.ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string]*corev1.Pod{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// setPhase writes a pod's status as a kubelet would.
func (c *cluster) setPhase(name string, phase corev1.PodPhase, ready bool) error {
	p, err := c.client.CoreV1().Pods("default").Get(c.ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	p.Status.Phase = phase
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}
	_, err = c.client.CoreV1().Pods("default").UpdateStatus(c.ctx, p, metav1.UpdateOptions{})
	return err
}

// kubelet marks every pod Running and Ready until ctx ends.
func (c *cluster) kubelet(ctx context.Context) {
	for ctx.Err() == nil {
		list, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err == nil {
			for _, p := range list.Items {
				if p.DeletionTimestamp == nil && (p.Status.Phase != corev1.PodRunning || !podReady(&p)) {
					_ = c.setPhase(p.Name, corev1.PodRunning, true)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *cluster) rolledOut(image string) func() (bool, error) {
	return func() (bool, error) {
		s := c.set()
		st := s.Status
		if st.ObservedGeneration < s.Generation || st.UpdatedReplicas != *s.Spec.Replicas || st.ReadyReplicas != *s.Spec.Replicas ||
			st.CurrentRevision != st.UpdateRevision {
			return false, fmt.Errorf("status %+v", st)
		}
		pods := c.pods()
		if len(pods) != int(*s.Spec.Replicas) {
			return false, fmt.Errorf("%d pods", len(pods))
		}
		for _, p := range pods {
			if p.Spec.Containers[0].Image != image || !podReady(p) {
				return false, fmt.Errorf("pod %s runs %s, ready %v", p.Name, p.Spec.Containers[0].Image, podReady(p))
			}
		}
		return true, nil
	}
}

func TestStatefulSetAgainstAPIServer(t *testing.T) {
	c := startCluster(t)
	set := newSet(3)
	set.UID, set.Generation = "", 0
	set.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:1"
	if _, err := c.client.AppsV1().StatefulSets("default").Create(c.ctx, set, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Ordered start: each pod exists alone until the one before is Ready.
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("web-%d", i)
		c.waitFor(name+" counted in status", func() (bool, error) {
			st := c.set().Status
			return st.Replicas == int32(i+1) && st.ReadyReplicas == int32(i), fmt.Errorf("status %+v", st)
		})
		// The controller has synced with web-<i> not Ready: nothing after it.
		var names []string
		for n := range c.pods() {
			names = append(names, n)
		}
		slices.Sort(names)
		wantStrings(t, "pods while "+name+" is not Ready", names, podRange(0, i)...)
		p := c.pods()[name]
		if p.Spec.Hostname != name || p.Spec.Subdomain != "web" || p.Labels[appsv1.StatefulSetPodNameLabel] != name {
			t.Errorf("%s: got hostname %q subdomain %q labels %v", name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
		}
		if err := c.setPhase(name, corev1.PodRunning, true); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor("3 ready replicas", c.rolledOut("minik8s/echo:1"))
	// kubectl's wording for the default partition 0.
	if out := c.ctl("rollout", "status", "statefulset/web"); out != "partitioned roll out complete: 3 new pods have been updated...\n" {
		t.Errorf("rollout status: got %q", out)
	}

	if out := c.ctl("get", "statefulset", "web"); !strings.Contains(out, "3/3") {
		t.Errorf("get statefulset: got\n%s\nwant READY 3/3", out)
	}
	// Events reach the API asynchronously.
	c.waitFor("describe with pods and events", func() (bool, error) {
		out := c.ctl("describe", "statefulset", "web")
		ok := strings.Contains(out, "3 Running / 0 Waiting / 0 Succeeded / 0 Failed") &&
			strings.Contains(out, "create Pod web-2 in StatefulSet web successful")
		return ok, fmt.Errorf("describe statefulset:\n%s", out)
	})

	kubeletCtx, stopKubelet := context.WithCancel(c.ctx)
	var kubelet sync.WaitGroup
	kubelet.Go(func() { c.kubelet(kubeletCtx) })
	defer func() { stopKubelet(); kubelet.Wait() }()

	// A failed pod comes back under its name.
	old := c.pods()["web-1"].UID
	if err := c.setPhase("web-1", corev1.PodFailed, false); err != nil {
		t.Fatal(err)
	}
	c.waitFor("web-1 re-created", func() (bool, error) {
		p := c.pods()["web-1"]
		return p != nil && p.UID != old && podReady(p), nil
	})

	// A rolling update, then history and undo through ctl.
	wantLines(t, c.ctl("set", "image", "statefulset/web", "c=minik8s/echo:2"), "statefulset.apps/web image updated")
	c.waitFor("rolled out to echo:2", c.rolledOut("minik8s/echo:2"))
	hist := c.ctl("rollout", "history", "statefulset/web")
	if !strings.Contains(hist, "REVISION") || !strings.Contains(hist, "\n1 ") || !strings.Contains(hist, "\n2 ") {
		t.Errorf("rollout history: got\n%s\nwant revisions 1 and 2", hist)
	}
	if out := c.ctl("rollout", "history", "statefulset/web", "--revision=1"); !strings.Contains(out, "minik8s/echo:1") {
		t.Errorf("rollout history --revision=1: got\n%s\nwant echo:1", out)
	}
	wantLines(t, c.ctl("rollout", "undo", "statefulset/web"), "statefulset.apps/web rolled back")
	c.waitFor("rolled back to echo:1", c.rolledOut("minik8s/echo:1"))
	revs, err := c.client.AppsV1().ControllerRevisions("default").List(c.ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(revs.Items) != 2 {
		t.Errorf("got %d ControllerRevisions after undo, want 2 (the old one renumbered)", len(revs.Items))
	}
	for _, r := range revs.Items {
		if r.Name == c.set().Status.UpdateRevision && r.Revision != 3 {
			t.Errorf("update revision %s is revision %d, want 3", r.Name, r.Revision)
		}
	}

	// Scale down: web-2 goes before web-1.
	w, err := c.client.CoreV1().Pods("default").Watch(c.ctx, metav1.ListOptions{ResourceVersion: c.set().ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	wantLines(t, c.ctl("scale", "statefulset/web", "--replicas=1"), "statefulset.apps/web scaled")
	var deleted []string
	for len(deleted) < 2 {
		select {
		case ev := <-w.ResultChan():
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Deleted {
				deleted = append(deleted, p.Name)
			}
		case <-c.ctx.Done():
			t.Fatalf("pods deleted: %v, want web-2 and web-1", deleted)
		}
	}
	wantStrings(t, "deletion order", deleted, "web-2", "web-1")
	c.waitFor("1 replica", c.rolledOut("minik8s/echo:1"))

	// The events kubectl describe shows.
	c.waitFor("events", func() (bool, error) {
		evs, err := c.client.CoreV1().Events("default").List(c.ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		var msgs []string
		for _, e := range evs.Items {
			msgs = append(msgs, e.Reason+": "+e.Message)
		}
		for _, want := range []string{
			"SuccessfulCreate: create Pod web-0 in StatefulSet web successful",
			"SuccessfulDelete: delete Pod web-2 in StatefulSet web successful",
		} {
			if !slices.Contains(msgs, want) {
				return false, fmt.Errorf("no event %q in %v", want, msgs)
			}
		}
		return true, nil
	})
}

func TestClaimsAgainstAPIServer(t *testing.T) {
	c := startCluster(t)
	set := newSet(2, parallel, withClaims, retention(appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType))
	set.UID, set.Generation = "", 0
	created, err := c.client.AppsV1().StatefulSets("default").Create(c.ctx, set, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeletCtx, stopKubelet := context.WithCancel(c.ctx)
	var kubelet sync.WaitGroup
	kubelet.Go(func() { c.kubelet(kubeletCtx) })
	defer func() { stopKubelet(); kubelet.Wait() }()
	c.waitFor("2 pods with claims", c.rolledOut("img:1"))
	for _, name := range []string{"data-web-0", "data-web-1"} {
		claim, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(c.ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ref := metav1.GetControllerOf(claim); ref == nil || ref.UID != created.UID {
			t.Errorf("%s: got controller %+v, want the StatefulSet (whenDeleted=Delete)", name, ref)
		}
	}
	podUID := c.pods()["web-1"].UID
	if _, err := c.client.AppsV1().StatefulSets("default").Patch(c.ctx, "web", "application/merge-patch+json", []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitFor("data-web-1 handed to web-1 for deletion", func() (bool, error) {
		claim, err := c.client.CoreV1().PersistentVolumeClaims("default").Get(c.ctx, "data-web-1", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, err
		}
		if err != nil {
			return false, err
		}
		ref := metav1.GetControllerOf(claim)
		return ref != nil && ref.Kind == "Pod" && ref.UID == podUID, fmt.Errorf("owners %v", owners(claim))
	})
}

func podRange(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("web-%d", i))
	}
	return out
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	wantStrings(t, "output", strings.Split(strings.TrimSpace(got), "\n"), want...)
}
