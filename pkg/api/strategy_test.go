package api

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestPrepareForCreate(t *testing.T) {
	ts := metav1.Now()
	tests := []struct {
		name  string
		obj   runtime.Object
		check func(t *testing.T, obj runtime.Object)
	}{{
		name: "pod status reset to Pending",
		obj: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Generation: 9, DeletionTimestamp: &ts},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "1.2.3.4"}},
		check: func(t *testing.T, obj runtime.Object) {
			p := obj.(*corev1.Pod)
			if p.Status.Phase != corev1.PodPending || p.Status.PodIP != "" || p.Status.QOSClass != corev1.PodQOSBestEffort {
				t.Errorf("status = %+v", p.Status)
			}
			if p.DeletionTimestamp != nil {
				t.Errorf("deletionTimestamp kept on create")
			}
		},
	}, {
		name: "deployment status cleared",
		obj:  &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 3}},
		check: func(t *testing.T, obj runtime.Object) {
			if s := obj.(*appsv1.Deployment).Status; s.Replicas != 0 || s.ReadyReplicas != 0 {
				t.Errorf("status = %+v", s)
			}
		},
	}, {
		name: "replicaset status cleared",
		obj:  &appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{Replicas: 3}},
		check: func(t *testing.T, obj runtime.Object) {
			if s := obj.(*appsv1.ReplicaSet).Status; s.Replicas != 0 {
				t.Errorf("status = %+v", s)
			}
		},
	}, {
		name: "service status cleared",
		obj:  &corev1.Service{Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}}},
		check: func(t *testing.T, obj runtime.Object) {
			if s := obj.(*corev1.Service).Status; len(s.LoadBalancer.Ingress) != 0 {
				t.Errorf("status = %+v", s)
			}
		},
	}, {
		name: "node keeps its status",
		obj: &corev1.Node{Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.200.0.11"}},
		}},
		check: func(t *testing.T, obj runtime.Object) {
			s := obj.(*corev1.Node).Status
			if len(s.Conditions) != 1 || len(s.Addresses) != 1 {
				t.Errorf("status = %+v", s)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := LookupKind(mustKind(t, tt.obj))
			if !ok {
				t.Fatalf("no resource for %T", tt.obj)
			}
			r.Strategy.PrepareForCreate(ctx, tt.obj)
			if g := metaOf(t, tt.obj).GetGeneration(); g != 1 {
				t.Errorf("generation = %d, want 1", g)
			}
			tt.check(t, tt.obj)
		})
	}
}

func mustKind(t *testing.T, obj runtime.Object) schema.GroupVersionKind {
	t.Helper()
	kinds, _, err := Scheme.ObjectKinds(obj)
	if err != nil {
		t.Fatal(err)
	}
	return kinds[0]
}

func metaOf(t *testing.T, obj runtime.Object) metav1.Object {
	t.Helper()
	m, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPrepareForUpdateGeneration(t *testing.T) {
	created := func() *appsv1.Deployment {
		d := newDeployment()
		deploymentStrategy.Default(d)
		deploymentStrategy.PrepareForCreate(ctx, d)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1}
		return stored(d)
	}
	tests := []struct {
		name    string
		mutate  func(*appsv1.Deployment)
		wantGen int64
	}{
		{name: "no change", mutate: func(*appsv1.Deployment) {}, wantGen: 1},
		{name: "label change", mutate: func(d *appsv1.Deployment) { d.Labels = map[string]string{"x": "y"} }, wantGen: 1},
		{name: "status change is ignored", mutate: func(d *appsv1.Deployment) { d.Status.Replicas = 9 }, wantGen: 1},
		{name: "client cannot set generation", mutate: func(d *appsv1.Deployment) { d.Generation = 42 }, wantGen: 1},
		{name: "spec change", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(3)) }, wantGen: 2},
		{name: "template change", mutate: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "x:2" }, wantGen: 2},
		{name: "annotation change (Deployments only)", mutate: func(d *appsv1.Deployment) { d.Annotations = map[string]string{"a": "b"} }, wantGen: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := created()
			d := old.DeepCopy()
			tt.mutate(d)
			deploymentStrategy.PrepareForUpdate(ctx, d, old)
			if d.Generation != tt.wantGen {
				t.Errorf("generation = %d, want %d", d.Generation, tt.wantGen)
			}
			if !apiequality.Semantic.DeepEqual(d.Status, old.Status) {
				t.Errorf("status = %+v, want the stored %+v", d.Status, old.Status)
			}
		})
	}

	// ReplicaSets move on spec only, not on annotations.
	rs := newReplicaSet()
	replicaSetStrategy.Default(rs)
	replicaSetStrategy.PrepareForCreate(ctx, rs)
	stored(rs)
	upd := rs.DeepCopy()
	upd.Annotations = map[string]string{"deployment.kubernetes.io/revision": "2"}
	replicaSetStrategy.PrepareForUpdate(ctx, upd, rs)
	if upd.Generation != 1 {
		t.Errorf("replicaset generation = %d after an annotation change, want 1", upd.Generation)
	}
}

func TestPrepareForUpdateSystemFields(t *testing.T) {
	old := stored(defaultedPod(nil))
	ts := metav1.Now()
	old.DeletionTimestamp = &ts
	old.DeletionGracePeriodSeconds = ptr.To(int64(30))
	pod := old.DeepCopy()
	pod.UID, pod.ResourceVersion = "", ""
	pod.CreationTimestamp = metav1.Unix(5, 0)
	pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = nil, nil
	podStrategy.PrepareForUpdate(ctx, pod, old)
	if pod.UID != old.UID || pod.ResourceVersion != old.ResourceVersion || !pod.CreationTimestamp.Equal(&old.CreationTimestamp) ||
		pod.DeletionTimestamp == nil || *pod.DeletionGracePeriodSeconds != 30 {
		t.Errorf("system fields not kept: %+v", pod.ObjectMeta)
	}
	checkErrs(t, podStrategy.ValidateUpdate(ctx, pod, old))
}

func TestPrepareForStatusUpdate(t *testing.T) {
	old := stored(defaultedPod(nil))
	podStrategy.PrepareForCreate(ctx, old)
	old.Finalizers = []string{"example.com/keep"}

	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "sneaky:1"
	pod.Labels = map[string]string{"changed": "yes"}
	pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "sneaky", UID: "u"}}
	pod.Status.QOSClass = ""
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = "10.244.1.5"
	podStrategy.PrepareForStatusUpdate(ctx, pod, old)

	if pod.Spec.Containers[0].Image != old.Spec.Containers[0].Image {
		t.Errorf("status write changed the image to %q", pod.Spec.Containers[0].Image)
	}
	// Upstream's pod status strategy writes the metadata sent (the
	// conformance test "should patch a pod status" patches annotations
	// through it) but keeps the owners and a QOS class the writer dropped.
	if pod.Labels["changed"] != "yes" {
		t.Errorf("status write dropped the labels sent: %v", pod.Labels)
	}
	if len(pod.OwnerReferences) != 0 {
		t.Errorf("status write changed the owners to %v", pod.OwnerReferences)
	}
	if pod.Status.QOSClass != old.Status.QOSClass {
		t.Errorf("got QOS class %q, want the stored %q", pod.Status.QOSClass, old.Status.QOSClass)
	}
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP != "10.244.1.5" {
		t.Errorf("status not taken: %+v", pod.Status)
	}
	if pod.Generation != old.Generation {
		t.Errorf("generation moved on a status write: %d", pod.Generation)
	}
}

// The deployment controller records deployment.kubernetes.io/revision
// through UpdateStatus: a Deployment's status write takes annotations and
// keeps labels, as upstream's deployment status strategy does.
func TestDeploymentStatusWriteTakesAnnotations(t *testing.T) {
	old := newDeployment()
	deploymentStrategy.Default(old)
	deploymentStrategy.PrepareForCreate(ctx, old)
	old.Labels = map[string]string{"app": "web"}

	d := old.DeepCopy()
	d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "2"}
	d.Labels = map[string]string{"app": "changed"}
	d.Spec.Replicas = ptr.To(int32(9))
	d.Status.ObservedGeneration = 1
	deploymentStrategy.PrepareForStatusUpdate(ctx, d, old)

	if got := d.Annotations["deployment.kubernetes.io/revision"]; got != "2" {
		t.Errorf("got revision annotation %q, want 2", got)
	}
	if d.Labels["app"] != "web" {
		t.Errorf("got labels %v, want the stored app=web", d.Labels)
	}
	if *d.Spec.Replicas != *old.Spec.Replicas {
		t.Errorf("status write changed spec.replicas to %d", *d.Spec.Replicas)
	}
	if d.Status.ObservedGeneration != 1 {
		t.Errorf("status not taken: %+v", d.Status)
	}
}

func TestLeaseRenewalKeepsGeneration(t *testing.T) {
	old := stored(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node1", Namespace: "kube-node-lease"}})
	leaseStrategy.PrepareForCreate(ctx, old)
	l := old.DeepCopy()
	now := metav1.NewMicroTime(metav1.Now().Time)
	l.Spec.RenewTime = &now
	leaseStrategy.PrepareForUpdate(ctx, l, old)
	if l.Generation != 1 {
		t.Errorf("generation = %d, want 1: a renewal is not a change of intent", l.Generation)
	}
}

func TestMetadataUpdateRules(t *testing.T) {
	old := stored(&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}})
	tests := []struct {
		name   string
		mutate func(*corev1.Endpoints)
		want   []wantErr
	}{
		{name: "labels may change", mutate: func(e *corev1.Endpoints) { e.Labels = map[string]string{"a": "b"} }},
		{name: "labels stay valid", mutate: func(e *corev1.Endpoints) { e.Labels = map[string]string{"a": "b c"} }, want: []wantErr{invalid("metadata.labels")}},
		{name: "name is immutable", mutate: func(e *corev1.Endpoints) { e.Name = "other" }, want: []wantErr{invalid("metadata.name")}},
		{name: "namespace is immutable", mutate: func(e *corev1.Endpoints) { e.Namespace = "kube-system" }, want: []wantErr{invalid("metadata.namespace")}},
		{name: "uid is immutable", mutate: func(e *corev1.Endpoints) { e.UID = "uid-2" }, want: []wantErr{invalid("metadata.uid")}},
		{name: "resourceVersion required", mutate: func(e *corev1.Endpoints) { e.ResourceVersion = "" }, want: []wantErr{invalid("metadata.resourceVersion")}},
		{name: "subsets validated", mutate: func(e *corev1.Endpoints) {
			e.Subsets = []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "x"}}}}
		}, want: []wantErr{invalid("subsets[0].addresses[0].ip")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := old.DeepCopy()
			tt.mutate(e)
			checkErrs(t, endpointsStrategy.ValidateUpdate(ctx, e, old), tt.want...)
		})
	}

	oldEv := stored(&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e.1", Namespace: "default"}, InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"}})
	ev := oldEv.DeepCopy()
	ev.Count = 2
	checkErrs(t, eventStrategy.ValidateUpdate(ctx, ev, oldEv))
	ev.Type = "Bad"
	checkErrs(t, eventStrategy.ValidateUpdate(ctx, ev, oldEv), notSupported("type"))

	oldLease := stored(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node1", Namespace: "kube-node-lease"}})
	l := oldLease.DeepCopy()
	l.Spec.LeaseDurationSeconds = ptr.To(int32(-5))
	checkErrs(t, leaseStrategy.ValidateUpdate(ctx, l, oldLease), invalid("spec.leaseDurationSeconds"))
}

func TestDefaultTable(t *testing.T) {
	fixClock(t)
	s := &strategy{}
	tbl, err := s.Table([]runtime.Object{&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "x", CreationTimestamp: ago(90 * time.Minute)}}}, TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.ColumnDefinitions) != 2 || tbl.Rows[0].Cells[0] != "x" || tbl.Rows[0].Cells[1] != "90m" {
		t.Errorf("got columns %v row %v", tbl.ColumnDefinitions, tbl.Rows[0].Cells)
	}
	if errs := s.Validate(ctx, &corev1.Endpoints{}); errs != nil {
		t.Errorf("a strategy without rules found errors: %v", errs)
	}
}

func TestHasSubresource(t *testing.T) {
	pods := lookupPlural(t, "pods")
	for _, sub := range []string{"status", "binding", "log", "exec"} {
		if !pods.HasSubresource(sub) {
			t.Errorf("pods lack %s", sub)
		}
	}
	if pods.HasSubresource("scale") {
		t.Error("pods have scale")
	}
	ns := lookupPlural(t, "namespaces")
	if !ns.HasSubresource("finalize") || ns.Namespaced {
		t.Errorf("namespaces: %+v", ns)
	}
}

// TestPodGeneration follows the conformance spec "pod generation should
// start at 1 and increment per update": 1 on create whatever the client
// sent, one more per update of the spec, none for metadata, and a
// generation the client sets is ignored.
func TestPodGeneration(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Generation = 100
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
	})
	podStrategy.PrepareForCreate(ctx, pod)
	if pod.Generation != 1 {
		t.Fatalf("generation %d on create, want 1", pod.Generation)
	}
	cur := stored(pod)
	steps := []struct {
		name   string
		update func(*corev1.Pod)
		bump   bool
	}{
		{name: "empty update", update: func(*corev1.Pod) {}},
		{name: "tolerations", update: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "foo", Operator: corev1.TolerationOpEqual, Value: "bar", Effect: corev1.TaintEffectNoSchedule}}
		}, bump: true},
		{name: "activeDeadlineSeconds", update: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(5000)) }, bump: true},
		{name: "container image", update: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "nginx:1" }, bump: true},
		{name: "init container image", update: func(p *corev1.Pod) { p.Spec.InitContainers[0].Image = "pause:1" }, bump: true},
		{name: "annotations", update: func(p *corev1.Pod) { p.Annotations = map[string]string{"key": "value"} }},
		{name: "generation set by the client", update: func(p *corev1.Pod) { p.Generation = 1 }},
	}
	want := int64(1)
	for _, s := range steps {
		upd := cur.DeepCopy()
		s.update(upd)
		podStrategy.PrepareForUpdate(ctx, upd, cur)
		checkErrs(t, podStrategy.ValidateUpdate(ctx, upd, cur))
		if s.bump {
			want++
		}
		if upd.Generation != want {
			t.Errorf("%s: generation %d, want %d", s.name, upd.Generation, want)
		}
		cur = upd
	}
}

// TestPodStatusKeepsObservedGeneration: as upstream's pod status strategy,
// a status write that leaves observedGeneration unset (in the status or a
// condition) keeps the stored one; one that sets it is taken.
func TestPodStatusKeepsObservedGeneration(t *testing.T) {
	old := stored(defaultedPod(nil))
	podStrategy.PrepareForCreate(ctx, old)
	old.Generation = 3
	old.Status.ObservedGeneration = 2
	old.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, ObservedGeneration: 2},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: 1},
	}

	unaware := old.DeepCopy()
	unaware.Status.ObservedGeneration = 0
	unaware.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse},
		{Type: "example.com/gate", Status: corev1.ConditionTrue},
	}
	podStrategy.PrepareForStatusUpdate(ctx, unaware, old)
	if unaware.Status.ObservedGeneration != 2 {
		t.Errorf("status.observedGeneration %d, want the stored 2", unaware.Status.ObservedGeneration)
	}
	for _, c := range unaware.Status.Conditions {
		want := map[corev1.PodConditionType]int64{corev1.PodScheduled: 1, corev1.PodReady: 2}[c.Type]
		if c.ObservedGeneration != want {
			t.Errorf("condition %s: observedGeneration %d, want %d", c.Type, c.ObservedGeneration, want)
		}
	}

	aware := old.DeepCopy()
	aware.Status.ObservedGeneration = 3
	aware.Status.Conditions[0].ObservedGeneration = 3
	podStrategy.PrepareForStatusUpdate(ctx, aware, old)
	if aware.Status.ObservedGeneration != 3 || aware.Status.Conditions[0].ObservedGeneration != 3 {
		t.Errorf("observedGeneration %d, PodReady's %d, want both 3 as written", aware.Status.ObservedGeneration, aware.Status.Conditions[0].ObservedGeneration)
	}
	checkErrs(t, podStrategy.ValidateStatusUpdate(ctx, aware, old))

	negative := old.DeepCopy()
	negative.Status.ObservedGeneration = -1
	negative.Status.Conditions[1].ObservedGeneration = -1
	checkErrs(t, podStrategy.ValidateStatusUpdate(ctx, negative, old),
		invalid("status.observedGeneration"), invalid("status.conditions[1].observedGeneration"))
}
