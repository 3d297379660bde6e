package nodeclient_test

import (
	"context"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/nodeclient"
)

func newClient(t *testing.T) *nodeclient.Client {
	t.Helper()
	c, err := nodeclient.New(apiservertest.Start(t).Config)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pod(name, node string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "img"}}},
	}
}

// TestErrors checks that the server's errors reach the caller as the
// *StatusError apierrors classifies, for each group the client speaks.
func TestErrors(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()

	if _, err := c.Nodes().Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing node: got %v, want NotFound", err)
	}
	if _, err := c.Leases("kube-node-lease").Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing lease: got %v, want NotFound", err)
	}
	if _, err := c.EndpointSlices("default").Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of a missing endpointslice: got %v, want NotFound", err)
	}

	node, err := c.Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: got %v, want AlreadyExists", err)
	}
	node.Labels = map[string]string{"a": "b"}
	if _, err := c.Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	node.Labels["a"] = "stale"
	if _, err := c.Nodes().Update(ctx, node, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: got %v, want Conflict", err)
	}

	p, err := c.Pods("default").Create(ctx, pod("p", "n1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wrong := types.UID("not-" + string(p.UID))
	err = c.Pods("default").Delete(ctx, "p", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &wrong}})
	if !apierrors.IsConflict(err) {
		t.Errorf("delete with a wrong UID precondition: got %v, want Conflict", err)
	}
	zero := int64(0)
	if err := c.Pods("default").Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.Pods("default").Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after a delete with grace 0: got %v, want NotFound", err)
	}
}

func TestStatusAndPatch(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	p, err := c.Pods("default").Create(ctx, pod("p", "n1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = v1.PodRunning
	p.Spec.Containers[0].Image = "changed-through-status"
	got, err := c.Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != v1.PodRunning || got.Spec.Containers[0].Image != "img" {
		t.Errorf("after UpdateStatus: phase %q image %q, want Running and the spec unchanged", got.Status.Phase, got.Spec.Containers[0].Image)
	}

	svc := &v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
		Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Port: 80}}}}
	if _, err := c.Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patched, err := c.Services("default").Patch(ctx, "s", types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"minik8s.io/lb-announcer":"n1"}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := patched.Annotations["minik8s.io/lb-announcer"]; got != "n1" {
		t.Errorf("annotation after patch = %q, want n1", got)
	}

	lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1", Namespace: "kube-node-lease"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("n1"), LeaseDurationSeconds: ptr.To[int32](40)}}
	created, err := c.Leases("kube-node-lease").Create(ctx, lease, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
	if _, err := c.Leases("kube-node-lease").Update(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestInformer runs an informer on ListWatch with a field selector: it
// sees only this node's pods, follows changes, and caches no managedFields.
func TestInformer(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mine := pod("mine", "n1")
	mine.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "test", Operation: metav1.ManagedFieldsOperationUpdate}}
	for _, p := range []*v1.Pod{mine, pod("other", "n2")} {
		if _, err := c.Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	inf := nodeclient.NewInformer(c.Pods("").ListWatch(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "n1").String()
	}), &v1.Pod{})
	added := make(chan string, 10)
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(o any) { added <- o.(*v1.Pod).Name }})
	go inf.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("cache did not sync")
	}
	if _, err := c.Pods("default").Create(ctx, pod("later", "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	for len(names) < 2 {
		select {
		case n := <-added:
			names = append(names, n)
		case <-time.After(10 * time.Second):
			t.Fatalf("informer saw %v, want mine and later", names)
		}
	}
	if names[0] != "mine" || names[1] != "later" {
		t.Errorf("informer saw %v, want [mine later]", names)
	}
	for _, o := range inf.GetStore().List() {
		p := o.(*v1.Pod)
		if p.Spec.NodeName != "n1" {
			t.Errorf("cache holds %s of node %s", p.Name, p.Spec.NodeName)
		}
		if p.ManagedFields != nil {
			t.Errorf("cached %s keeps managedFields %v", p.Name, p.ManagedFields)
		}
	}
}
