package resourcequota

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestQuotaAgainstAPIServer: the controller fills the quotas' status, the
// apiserver's admission refuses what goes beyond them with upstream's
// messages, and a deleted pod frees its unit once the controller has
// recalculated.
func TestQuotaAgainstAPIServer(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	const ns = "quota"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A Deployment from before the quota: counted by the controller
	// through the metadata API.
	one := int32(1)
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d1"}, Spec: appsv1.DeploymentSpec{
		Replicas: &one,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "d"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}},
	}}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, NewMetadataCounter(metadata.NewForConfigOrDie(srv.Config), client.Discovery()))
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)

	for _, rq := range []*corev1.ResourceQuota{
		{ObjectMeta: metav1.ObjectMeta{Name: "compute"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "2", "requests.cpu", "1")}},
		{ObjectMeta: metav1.ObjectMeta{Name: "objects"}, Spec: corev1.ResourceQuotaSpec{Hard: rl("count/configmaps", "1", "count/deployments.apps", "1")}},
	} {
		if _, err := client.CoreV1().ResourceQuotas(ns).Create(ctx, rq, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("%s: never happened", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	used := func(name string) corev1.ResourceList {
		rq, err := client.CoreV1().ResourceQuotas(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || rq.Status.Hard == nil {
			return nil
		}
		return rq.Status.Used
	}
	eventually("the controller fills compute's status", func() bool { return equalLists(used("compute"), rl("pods", "0", "requests.cpu", "0")) })
	eventually("the controller counts the deployment", func() bool {
		return equalLists(used("objects"), rl("count/configmaps", "0", "count/deployments.apps", "1"))
	})

	newPod := func(name string, res corev1.ResourceRequirements) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", Resources: res}}}}
	}
	create := func(p *corev1.Pod) error {
		_, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		return err
	}
	half := corev1.ResourceRequirements{Requests: rl("cpu", "500m")}
	for _, name := range []string{"p1", "p2"} {
		if err := create(newPod(name, half)); err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
	}
	refused := func(err error, want string) {
		t.Helper()
		if err == nil || !apierrors.IsForbidden(err) || err.Error() != want {
			t.Fatalf("got %v, want 403 %q", err, want)
		}
	}
	refused(create(newPod("p3", corev1.ResourceRequirements{Requests: rl("cpu", "100m")})),
		`pods "p3" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=100m, used: pods=2,requests.cpu=1, limited: pods=2,requests.cpu=1`)
	refused(create(newPod("p4", corev1.ResourceRequirements{})),
		`pods "p4" is forbidden: failed quota: compute: must specify requests.cpu for: app`)
	if got := used("compute"); !equalLists(got, rl("pods", "2", "requests.cpu", "1")) {
		t.Fatalf("got used %v after two pods, want pods=2, requests.cpu=1", got)
	}

	if err := client.CoreV1().Pods(ns).Delete(ctx, "p1", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually("the deleted pod's unit is freed", func() bool { return equalLists(used("compute"), rl("pods", "1", "requests.cpu", "500m")) })
	if err := create(newPod("p3", half)); err != nil {
		t.Fatalf("creating p3 after p1 went: %v", err)
	}

	cm := func(name string) error {
		_, err := client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		return err
	}
	if err := cm("c1"); err != nil {
		t.Fatal(err)
	}
	refused(cm("c2"), `configmaps "c2" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1`)
	dep.Name = "d2"
	_, err := client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})
	refused(err, `deployments.apps "d2" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1`)
}

// TestQuotaConcurrentCreates: of many pods created at once against a
// quota of three, exactly three are admitted and charged.
func TestQuotaConcurrentCreates(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	const ns = "race"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, nil)
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)
	if _, err := client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "three"},
		Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "3")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		rq, err := client.CoreV1().ResourceQuotas(ns).Get(ctx, "three", metav1.GetOptions{})
		if err == nil && rq.Status.Used != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the controller never filled the quota's status")
		}
		time.Sleep(50 * time.Millisecond)
	}
	const n = 12
	errs := make(chan error, n)
	for i := range n {
		go func() {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + string(rune('a'+i))},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x"}}}}
			_, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
			errs <- err
		}()
	}
	admitted := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			admitted++
		case !apierrors.IsForbidden(err):
			t.Errorf("got %v, want admitted or 403", err)
		}
	}
	if admitted != 3 {
		t.Errorf("got %d pods admitted, want 3", admitted)
	}
	rq, err := client.CoreV1().ResourceQuotas(ns).Get(ctx, "three", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !equalLists(rq.Status.Used, rl("pods", "3")) {
		t.Errorf("got used %v, want pods=3", rq.Status.Used)
	}
}
