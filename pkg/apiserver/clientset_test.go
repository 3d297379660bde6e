package apiserver_test

import (
	"context"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func newPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "minik8s/echo:latest"}}},
	}
}

func newDeployment(name string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "minik8s/echo:latest"}}},
			},
		},
	}
}

func clientset(t *testing.T, s *apiservertest.Server) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return watch.Event{}
}

func TestClientsetPods(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")

	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	created, err := pods.Create(ctx, newPod("a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.UID == "" || created.CreationTimestamp.IsZero() || created.ResourceVersion == "" {
		t.Fatalf("create did not set uid/creationTimestamp/resourceVersion: %+v", created.ObjectMeta)
	}
	if created.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Fatalf("restartPolicy %q, want the default Always", created.Spec.RestartPolicy)
	}
	var tolerated int
	for _, tol := range created.Spec.Tolerations {
		if tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil && *tol.TolerationSeconds == 300 {
			tolerated++
		}
	}
	if tolerated != 2 {
		t.Fatalf("got %d default NoExecute tolerations, want 2: %+v", tolerated, created.Spec.Tolerations)
	}
	if ev := nextEvent(t, w); ev.Type != watch.Added || ev.Object.(*corev1.Pod).Name != "a" {
		t.Fatalf("got %s, want ADDED a", ev.Type)
	}
	got, err := pods.Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got.Labels["v"] = "2"
	updated, err := pods.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Type != watch.Modified || ev.Object.(*corev1.Pod).ResourceVersion != updated.ResourceVersion {
		t.Fatalf("got %s, want MODIFIED at %s", ev.Type, updated.ResourceVersion)
	}
	// The stale copy conflicts.
	got.Labels["v"] = "3"
	if _, err := pods.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale update: got %v, want Conflict", err)
	}
	// Stale and invalid too: the conflict comes first, as upstream checks
	// the resourceVersion before validation (a client retrying on conflict,
	// as the Node lifecycle conformance spec does while the node IPAM
	// controller sets podCIDR, gets a 409 it retries, not a 422).
	got.Spec.Containers[0].Image = ""
	if _, err := pods.Update(ctx, got, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale, invalid update: got %v, want Conflict", err)
	}
	got.Spec.Containers[0].Image = updated.Spec.Containers[0].Image
	// An update replacing the tolerations keeps the default ones, as
	// upstream's DefaultTolerationSeconds admission of updates (the pod
	// generation conformance spec does so), and moves generation.
	updated.Spec.Tolerations = []corev1.Toleration{{Key: "foo", Operator: corev1.TolerationOpEqual, Value: "bar", Effect: corev1.TaintEffectNoSchedule}}
	retolerated, err := pods.Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("replacing the tolerations: %v", err)
	}
	if n := len(retolerated.Spec.Tolerations); n != 3 || retolerated.Generation != 2 {
		t.Fatalf("got %d tolerations at generation %d, want the new one and the 2 defaults at 2: %+v", n, retolerated.Generation, retolerated.Spec.Tolerations)
	}
	if ev := nextEvent(t, w); ev.Type != watch.Modified {
		t.Fatalf("got %s, want MODIFIED", ev.Type)
	}
	if _, err := pods.Create(ctx, newPod("a"), metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Fatalf("duplicate create: got %v, want AlreadyExists", err)
	}
	l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("list: %v, %d items, want 1", err, len(l.Items))
	}
	// Unbound pods go at once.
	if err := pods.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, w); ev.Type != watch.Deleted {
		t.Fatalf("got %s, want DELETED", ev.Type)
	}
	if _, err := pods.Get(ctx, "a", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: got %v, want NotFound", err)
	}
}

func TestClientsetDeploymentsAndInformer(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	deps := cs.AppsV1().Deployments("default")
	if _, err := deps.Create(ctx, newDeployment("web", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Apps().V1().Deployments().Informer()
	seen := make(chan int32, 16)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { seen <- *obj.(*appsv1.Deployment).Spec.Replicas },
	})
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("informer did not sync")
	}
	if n := len(inf.GetStore().List()); n != 1 {
		t.Fatalf("informer holds %d deployments, want 1", n)
	}

	d, err := deps.Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 || d.Spec.RevisionHistoryLimit == nil || *d.Spec.RevisionHistoryLimit != 10 {
		t.Fatalf("generation %d revisionHistoryLimit %v, want 1 and the default 10", d.Generation, d.Spec.RevisionHistoryLimit)
	}
	d.Spec.Replicas = ptr.To(int32(5))
	d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 2 {
		t.Fatalf("generation %d after a spec change, want 2", d.Generation)
	}
	select {
	case n := <-seen:
		if n != 5 {
			t.Fatalf("informer saw replicas %d, want 5", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("informer saw no update")
	}
	// A status write does not move generation.
	d.Status.Replicas = 3
	d, err = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 2 || d.Status.Replicas != 3 {
		t.Fatalf("after status update: generation %d status.replicas %d, want 2 and 3", d.Generation, d.Status.Replicas)
	}
	// Scale subresource.
	sc, err := deps.GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc.Spec.Replicas != 5 || sc.Status.Selector != "app=web" {
		t.Fatalf("scale: replicas %d selector %q, want 5 and app=web", sc.Spec.Replicas, sc.Status.Selector)
	}
	sc.Spec.Replicas = 7
	if _, err := deps.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("stale scale update: got %v, want Conflict", err)
	}
	d, _ = deps.Get(ctx, "web", metav1.GetOptions{})
	if *d.Spec.Replicas != 7 || d.Generation != 3 {
		t.Fatalf("after scale: replicas %d generation %d, want 7 and 3", *d.Spec.Replicas, d.Generation)
	}
	if err := deps.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := deps.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get after delete: got %v, want NotFound", err)
	}
}
