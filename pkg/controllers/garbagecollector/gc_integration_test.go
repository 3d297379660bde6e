package garbagecollector

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"minik8s/pkg/apiserver/apiservertest"
)

// startGC runs a collector against a fresh apiserver until the test ends.
func startGC(t *testing.T) (context.Context, kubernetes.Interface) {
	t.Helper()
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := NewForConfig(srv.Config, &record.FakeRecorder{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ctx, kubernetes.NewForConfigOrDie(srv.Config)
}

func eventually(t *testing.T, ctx context.Context, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// stays checks cond for d; it must hold all along.
func stays(t *testing.T, ctx context.Context, what string, d time.Duration, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		ok, err := cond(ctx)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !ok {
			t.Fatalf("%s no longer holds", what)
		}
	}
}

func gone(err error) (bool, error) {
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

func ownerRef(apiVersion, kind string, o metav1.Object, block bool) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: o.GetName(), UID: o.GetUID(), BlockOwnerDeletion: &block}}
}

var labels = map[string]string{"app": "gc"}

func podTemplate(restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
}

func newJob(name string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       batchv1.JobSpec{Template: podTemplate(corev1.RestartPolicyNever)},
	}
}

func propagation(p metav1.DeletionPropagation) metav1.DeleteOptions {
	return metav1.DeleteOptions{PropagationPolicy: &p}
}

// TestBackgroundAnyKind: a ConfigMap owned by a Job goes when the Job does.
func TestBackgroundAnyKind(t *testing.T) {
	ctx, client := startGC(t)
	job, err := client.BatchV1().Jobs("default").Create(ctx, newJob("j"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "of-j", Namespace: "default", OwnerReferences: ownerRef("batch/v1", "Job", job, false)}}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stays(t, ctx, "the ConfigMap of a live Job exists", 2*time.Second, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ConfigMaps("default").Get(ctx, "of-j", metav1.GetOptions{})
		return err == nil, err
	})
	if err := client.BatchV1().Jobs("default").Delete(ctx, "j", propagation(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "the ConfigMap of the deleted Job to go", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ConfigMaps("default").Get(ctx, "of-j", metav1.GetOptions{})
		return gone(err)
	})
}

// TestForegroundAnyKind: a StatefulSet deleted in the foreground stays
// until its Secret (held by a finalizer of the test's) is gone.
func TestForegroundAnyKind(t *testing.T) {
	ctx, client := startGC(t)
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ss", Namespace: "default"},
		Spec: appsv1.StatefulSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(corev1.RestartPolicyAlways),
		},
	}
	ss, err := client.AppsV1().StatefulSets("default").Create(ctx, ss, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const hold = "example.com/hold"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "of-ss", Namespace: "default", Finalizers: []string{hold},
		OwnerReferences: ownerRef("apps/v1", "StatefulSet", ss, true)}}
	if _, err := client.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.AppsV1().StatefulSets("default").Delete(ctx, "ss", propagation(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "the Secret to be deleted", func(ctx context.Context) (bool, error) {
		s, err := client.CoreV1().Secrets("default").Get(ctx, "of-ss", metav1.GetOptions{})
		return err == nil && s.DeletionTimestamp != nil, err
	})
	stays(t, ctx, "the StatefulSet waits, in deletion, for its Secret", 2*time.Second, func(ctx context.Context) (bool, error) {
		got, err := client.AppsV1().StatefulSets("default").Get(ctx, "ss", metav1.GetOptions{})
		return err == nil && got.DeletionTimestamp != nil, err
	})
	s, err := client.CoreV1().Secrets("default").Get(ctx, "of-ss", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, f := range s.Finalizers {
		if f != hold {
			kept = append(kept, f)
		}
	}
	s.Finalizers = kept
	if _, err := client.CoreV1().Secrets("default").Update(ctx, s, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	eventually(t, ctx, "the StatefulSet to go after its Secret", func(ctx context.Context) (bool, error) {
		_, err := client.AppsV1().StatefulSets("default").Get(ctx, "ss", metav1.GetOptions{})
		if ok, err := gone(err); !ok {
			return false, err
		}
		_, err = client.CoreV1().Secrets("default").Get(ctx, "of-ss", metav1.GetOptions{})
		return gone(err)
	})
}

// TestOrphanAnyKind: a DaemonSet deleted with orphan propagation leaves
// its ServiceAccount, without the reference to it.
func TestOrphanAnyKind(t *testing.T) {
	ctx, client := startGC(t)
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "ds", Namespace: "default"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: podTemplate(corev1.RestartPolicyAlways),
		},
	}
	ds, err := client.AppsV1().DaemonSets("default").Create(ctx, ds, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "of-ds", Namespace: "default", OwnerReferences: ownerRef("apps/v1", "DaemonSet", ds, true)}}
	if _, err := client.CoreV1().ServiceAccounts("default").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := client.AppsV1().DaemonSets("default").Delete(ctx, "ds", propagation(metav1.DeletePropagationOrphan)); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "the DaemonSet to go", func(ctx context.Context) (bool, error) {
		_, err := client.AppsV1().DaemonSets("default").Get(ctx, "ds", metav1.GetOptions{})
		return gone(err)
	})
	stays(t, ctx, "the orphaned ServiceAccount exists, owned by nothing", 2*time.Second, func(ctx context.Context) (bool, error) {
		got, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "of-ds", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if len(got.OwnerReferences) != 0 {
			t.Fatalf("the orphan still refers to %v", got.OwnerReferences)
		}
		return got.DeletionTimestamp == nil, nil
	})
}

// TestDanglingOwner: a reference to a Job under a UID no Job has is
// collected; one to the live Job is not.
func TestDanglingOwner(t *testing.T) {
	ctx, client := startGC(t)
	job, err := client.BatchV1().Jobs("default").Create(ctx, newJob("j"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stale := job.DeepCopy()
	stale.UID = types.UID("00000000-0000-0000-0000-000000000000")
	for name, owner := range map[string]*batchv1.Job{"dangling": stale, "owned": job} {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: ownerRef("batch/v1", "Job", owner, false)}}
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, ctx, "the ConfigMap with a wrong owner UID to go", func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ConfigMaps("default").Get(ctx, "dangling", metav1.GetOptions{})
		return gone(err)
	})
	stays(t, ctx, "the ConfigMap of the live Job exists", time.Second, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ConfigMaps("default").Get(ctx, "owned", metav1.GetOptions{})
		return err == nil, err
	})
}

// TestForegroundCycle: three objects owning each other in a cycle, each
// reference blocking its owner's deletion (cm1 owned by cm3, cm2 by cm1,
// cm3 by cm2), all go when one is deleted in the foreground, as upstream's
// conformance test "should not be blocked by dependency circle" wants.
func TestForegroundCycle(t *testing.T) {
	ctx, client := startGC(t)
	cms := client.CoreV1().ConfigMaps("default")
	var objs []*corev1.ConfigMap
	for _, name := range []string{"cm1", "cm2", "cm3"} {
		cm, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, cm)
	}
	for i, cm := range objs {
		owner := objs[(i+2)%3]
		patch := []byte(`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"` + owner.Name +
			`","uid":"` + string(owner.UID) + `","controller":true,"blockOwnerDeletion":true}]}}`)
		if _, err := cms.Patch(ctx, cm.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	opts := propagation(metav1.DeletePropagationForeground)
	opts.Preconditions = metav1.NewUIDPreconditions(string(objs[0].UID))
	if err := cms.Delete(ctx, "cm1", opts); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "all three ConfigMaps of the cycle to go", func(ctx context.Context) (bool, error) {
		l, err := cms.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, cm := range l.Items {
			if cm.Name == "cm1" || cm.Name == "cm2" || cm.Name == "cm3" {
				return false, nil
			}
		}
		return true, nil
	})
}
