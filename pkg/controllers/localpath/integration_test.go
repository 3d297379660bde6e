package localpath_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/controllers/localpath"
	"minik8s/pkg/controllers/pvbinder"
	"minik8s/pkg/controllers/storageprotection"
	"minik8s/pkg/scheduler"
)

// TestProvisioningAgainstAPIServer runs the binder, the provisioner and the
// scheduler against a real apiserver: a claim of the default class used by
// a pod gets a volume on the node the scheduler chose, and goes with its
// data when the claim is deleted; a claim without class and volume stays
// Pending; a pod of a missing claim is not scheduled.
func TestProvisioningAgainstAPIServer(t *testing.T) {
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, n := range []string{"n1", "n2"} {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n, Labels: map[string]string{corev1.LabelHostname: n}},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			},
		}
		if _, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 5)
	defer func() {
		stop()
		for range 5 {
			<-done
		}
	}()
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	factory := informers.NewSharedInformerFactory(client, 0)
	binder := pvbinder.New(client, factory, broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: pvbinder.Component}))
	prov := localpath.New(client, factory, broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: localpath.Provisioner}),
		localpath.Config{Root: "/srv/storage", HelperImage: "minik8s/toolbox:latest"})
	// The apiserver protects claims and volumes with finalizers, which
	// their controllers remove.
	claimProtection, err := storageprotection.NewClaims(client, factory)
	if err != nil {
		t.Fatal(err)
	}
	volumeProtection, err := storageprotection.NewVolumes(client, factory)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(runCtx.Done())
	go func() { binder.Run(runCtx, 2); done <- struct{}{} }()
	go func() { prov.Run(runCtx, 2); done <- struct{}{} }()
	go func() { claimProtection.Run(runCtx, 1); done <- struct{}{} }()
	go func() { volumeProtection.Run(runCtx, 1); done <- struct{}{} }()
	cfg := scheduler.NewConfig()
	cfg.BackoffInitial, cfg.BackoffMax = 100*time.Millisecond, 500*time.Millisecond
	sched := scheduler.New(client, cfg)
	go func() {
		if err := sched.Run(runCtx); err != nil {
			t.Errorf("scheduler: %v", err)
		}
		done <- struct{}{}
	}()

	eventually := func(what string, cond func() error) {
		t.Helper()
		var last error
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			last = cond()
			return last == nil, nil
		})
		if err != nil {
			t.Fatalf("%s: %v", what, last)
		}
	}
	eventually("the local-path class exists", func() error {
		_, err := client.StorageV1().StorageClasses().Get(ctx, localpath.ClassName, metav1.GetOptions{})
		return err
	})

	newClaim := func(name string, class *string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				StorageClassName: class,
			},
		}
		got, err := client.CoreV1().PersistentVolumeClaims("default").Create(ctx, c, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	newPod := func(name, claim string) {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: "minik8s/toolbox:latest", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
			},
		}
		if _, err := client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// A claim of the default class and a pod using it.
	claim := newClaim("data", nil)
	newPod("app", "data")
	var node string
	eventually("the pod is bound to a node", func() error {
		p, err := client.CoreV1().Pods("default").Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if node = p.Spec.NodeName; node == "" {
			return fmt.Errorf("pod not bound, status %+v", p.Status.Conditions)
		}
		return nil
	})
	got, err := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pvName := "pvc-" + string(claim.UID)
	if got.Status.Phase != corev1.ClaimBound || got.Spec.VolumeName != pvName {
		t.Fatalf("got claim phase %q volume %q, want Bound to %s", got.Status.Phase, got.Spec.VolumeName, pvName)
	}
	if c := storagehelpers.GetPersistentVolumeClaimClass(got); c != localpath.ClassName {
		t.Errorf("got class %q, want the default %q", c, localpath.ClassName)
	}
	if sel := got.Annotations[storagehelpers.AnnSelectedNode]; sel != node {
		t.Errorf("got selected node %q, want the pod's %q", sel, node)
	}
	if q := got.Status.Capacity[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Errorf("got claim capacity %s, want 1Gi", q.String())
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Status.Phase != corev1.VolumeBound {
		t.Errorf("got volume phase %q, want Bound", pv.Status.Phase)
	}
	if want := "/srv/storage/" + node + "/" + pvName + "_default_data"; pv.Spec.HostPath == nil || pv.Spec.HostPath.Path != want {
		t.Errorf("got volume source %+v, want hostPath %s", pv.Spec.PersistentVolumeSource, want)
	}
	if err := storagehelpers.CheckNodeAffinity(pv, map[string]string{corev1.LabelHostname: node}); err != nil {
		t.Errorf("the pod's node %s does not match the volume's affinity: %v", node, err)
	}
	other := map[string]string{"n1": "n2", "n2": "n1"}[node]
	if err := storagehelpers.CheckNodeAffinity(pv, map[string]string{corev1.LabelHostname: other}); err == nil {
		t.Errorf("node %s matches the volume's affinity, want only %s", other, node)
	}

	// A second pod of the same claim goes to the same node.
	newPod("app2", "data")
	eventually("the second pod follows the volume", func() error {
		p, err := client.CoreV1().Pods("default").Get(ctx, "app2", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Spec.NodeName != node {
			return fmt.Errorf("pod on %q, want %q", p.Spec.NodeName, node)
		}
		return nil
	})

	// A claim with no class and no volume stays Pending.
	newClaim("plain", ptr(""))
	eventually("the classless claim has a FailedBinding event", func() error {
		return findEvent(ctx, client, "plain", "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
	})
	if c, _ := client.CoreV1().PersistentVolumeClaims("default").Get(ctx, "plain", metav1.GetOptions{}); c.Status.Phase != corev1.ClaimPending {
		t.Errorf("got phase %q, want Pending", c.Status.Phase)
	}
	// Its pod is not scheduled: the claim is not bound and not delayed.
	newPod("waits", "plain")
	newPod("orphan", "nope")
	for pod, want := range map[string]string{
		"waits":  "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
		"orphan": `0/2 nodes are available: persistentvolumeclaim "nope" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.`,
	} {
		eventually(pod+" is unschedulable", func() error {
			p, err := client.CoreV1().Pods("default").Get(ctx, pod, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message == want {
					return nil
				}
			}
			return fmt.Errorf("node %q, conditions %+v, want PodScheduled=False %q", p.Spec.NodeName, p.Status.Conditions, want)
		})
	}

	// Deleting the claim releases the volume once its pods are gone (it
	// is protected while they use it); the helper pod removes its data on
	// its node (marked Succeeded here, no agent runs it), then the volume
	// goes.
	if err := client.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, pod := range []string{"app", "app2"} {
		if err := client.CoreV1().Pods("default").Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: ptr[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	var helper *corev1.Pod
	eventually("the helper pod is created", func() error {
		helper, err = client.CoreV1().Pods(localpath.HelperNamespace).Get(ctx, localpath.HelperPodName(pvName), metav1.GetOptions{})
		return err
	})
	if helper.Spec.NodeName != node || helper.Spec.Containers[0].Env[0].Value != pv.Spec.HostPath.Path {
		t.Errorf("got helper on %q removing %q, want on %q removing %q", helper.Spec.NodeName, helper.Spec.Containers[0].Env[0].Value, node, pv.Spec.HostPath.Path)
	}
	if v, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); err != nil || v.Status.Phase != corev1.VolumeReleased {
		t.Errorf("got volume %v (%v) while the helper runs, want it Released", v.Status.Phase, err)
	}
	helper.Status.Phase = corev1.PodSucceeded
	if _, err := client.CoreV1().Pods(localpath.HelperNamespace).UpdateStatus(ctx, helper, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually("the volume and the helper pod are deleted", func() error {
		if _, err := client.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); err == nil {
			return fmt.Errorf("volume %s still there", pvName)
		}
		if _, err := client.CoreV1().Pods(localpath.HelperNamespace).Get(ctx, helper.Name, metav1.GetOptions{}); err == nil {
			return fmt.Errorf("helper pod still there")
		}
		return nil
	})
}

func ptr[T any](v T) *T { return &v }

func findEvent(ctx context.Context, client kubernetes.Interface, object, reason, message string) error {
	evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var seen []string
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == object {
			if e.Reason == reason && e.Message == message {
				return nil
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
	}
	return fmt.Errorf("no %s event %q on %s, have %s", reason, message, object, strings.Join(seen, "; "))
}
