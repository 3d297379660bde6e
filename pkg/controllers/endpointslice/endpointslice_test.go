package endpointslice

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
)

func newFixture(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, record.NewFakeRecorder(100))
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			f.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
	}
	return c, client, f
}

func svc(targetPort intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid", Labels: map[string]string{"team": "x"}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: targetPort}},
		},
	}
}

func node(name string, ready corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
}

func pod(name, ip, nodeName string, ready bool, port int32) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: nodeName, Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: port}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

type cond struct{ ready, serving, terminating bool }

func slices(t *testing.T, client *fake.Clientset) []discoveryv1.EndpointSlice {
	t.Helper()
	l, err := client.DiscoveryV1().EndpointSlices("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestEndpointConditions(t *testing.T) {
	term := pod("terminating", "10.0.0.4", "n1", true, 8080)
	now := metav1.Now()
	term.DeletionTimestamp = &now
	objs := []runtime.Object{
		svc(intstr.FromInt32(8080)),
		node("n1", corev1.ConditionTrue), node("n2", corev1.ConditionUnknown, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}),
		pod("ready", "10.0.0.1", "n1", true, 8080),
		pod("notready", "10.0.0.2", "n1", false, 8080),
		pod("deadnode", "10.0.0.3", "n2", true, 8080),
		term,
		pod("noip", "", "n1", true, 8080),
	}
	c, client, _ := newFixture(t, objs...)
	if err := c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	ss := slices(t, client)
	if len(ss) != 1 {
		t.Fatalf("got %d slices, want 1", len(ss))
	}
	s := ss[0]
	if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels["team"] != "x" {
		t.Errorf("labels %v", s.Labels)
	}
	if ref := metav1.GetControllerOf(&s); ref == nil || ref.Kind != "Service" || ref.UID != "svc-uid" {
		t.Errorf("owner %+v", s.OwnerReferences)
	}
	if len(s.Ports) != 1 || *s.Ports[0].Port != 8080 || *s.Ports[0].Name != "http" {
		t.Errorf("ports %+v", s.Ports)
	}
	want := map[string]cond{
		"ready":       {true, true, false},
		"notready":    {false, false, false},
		"deadnode":    {false, false, false},
		"terminating": {false, true, true},
	}
	if len(s.Endpoints) != len(want) {
		t.Fatalf("got %d endpoints, want %d (pod without IP skipped)", len(s.Endpoints), len(want))
	}
	for _, e := range s.Endpoints {
		got := cond{*e.Conditions.Ready, *e.Conditions.Serving, *e.Conditions.Terminating}
		if got != want[e.TargetRef.Name] {
			t.Errorf("%s: got %+v, want %+v", e.TargetRef.Name, got, want[e.TargetRef.Name])
		}
		if e.NodeName == nil || e.TargetRef.Kind != "Pod" {
			t.Errorf("%s: nodeName/targetRef missing", e.TargetRef.Name)
		}
	}
	ep, err := client.CoreV1().Endpoints("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != "10.0.0.1" ||
		len(ep.Subsets[0].NotReadyAddresses) != 2 || ep.Subsets[0].Ports[0].Port != 8080 {
		t.Errorf("endpoints %+v, want 10.0.0.1 ready, two not ready, terminating left out", ep.Subsets)
	}
}

func TestNamedPortsSplitSlices(t *testing.T) {
	objs := []runtime.Object{svc(intstr.FromString("web")),
		pod("a", "10.0.0.1", "", true, 8080), pod("b", "10.0.0.2", "", true, 8080), pod("c", "10.0.0.3", "", true, 9090)}
	c, client, _ := newFixture(t, objs...)
	if err := c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	byPort := map[int32]int{}
	for _, s := range slices(t, client) {
		byPort[*s.Ports[0].Port] += len(s.Endpoints)
	}
	if byPort[8080] != 2 || byPort[9090] != 1 || len(byPort) != 2 {
		t.Errorf("endpoints by resolved port %v, want 8080:2 9090:1 in separate slices", byPort)
	}
	ep, _ := client.CoreV1().Endpoints("default").Get(context.Background(), "web", metav1.GetOptions{})
	if len(ep.Subsets) != 2 {
		t.Errorf("got %d subsets, want 2", len(ep.Subsets))
	}
}

func TestSlicesHoldAtMost100AndNoRewrite(t *testing.T) {
	objs := []runtime.Object{svc(intstr.FromInt32(80))}
	for i := 0; i < 250; i++ {
		objs = append(objs, pod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.0.%d.%d", i/200, 1+i%200), "", true, 80))
	}
	c, client, f := newFixture(t, objs...)
	ctx := context.Background()
	if err := c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	ss := slices(t, client)
	total := 0
	for _, s := range ss {
		if len(s.Endpoints) > MaxEndpointsPerSlice {
			t.Errorf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
		}
		total += len(s.Endpoints)
	}
	if len(ss) != 3 || total != 250 {
		t.Fatalf("got %d slices with %d endpoints, want 3 with 250", len(ss), total)
	}
	resyncWritesNothing(t, c, client, f)
}

// resyncWritesNothing shows the controller's informers what it wrote for
// default/web, syncs again and fails on any write: unchanged state is not
// written twice.
func resyncWritesNothing(t *testing.T, c *Controller, client *fake.Clientset, f informers.SharedInformerFactory) {
	t.Helper()
	ctx := context.Background()
	for _, s := range slices(t, client) {
		f.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(s.DeepCopy())
	}
	ep, _ := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
	f.Core().V1().Endpoints().Informer().GetIndexer().Add(ep)
	client.ClearActions()
	if err := c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	for _, a := range client.Actions() {
		t.Errorf("unchanged state written again: %s %s", a.GetVerb(), a.GetResource().Resource)
	}
}

// TestPlaceholderForAServiceWithoutPods: a Service whose selector matches
// no pod has one empty slice, as upstream's reconciler keeps; it is not
// written again, and gives way to the real slice when a pod comes.
func TestPlaceholderForAServiceWithoutPods(t *testing.T) {
	c, client, f := newFixture(t, svc(intstr.FromInt32(80)))
	ctx := context.Background()
	if err := c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	ss := slices(t, client)
	if len(ss) != 1 || len(ss[0].Endpoints) != 0 || len(ss[0].Ports) != 0 || ss[0].AddressType != discoveryv1.AddressTypeIPv4 ||
		ss[0].Labels[discoveryv1.LabelManagedBy] != ManagedBy || ss[0].Labels[discoveryv1.LabelServiceName] != "web" {
		t.Fatalf("got %+v, want one empty IPv4 slice of web managed by %s", ss, ManagedBy)
	}
	placeholder := ss[0].Name
	resyncWritesNothing(t, c, client, f)
	f.Core().V1().Pods().Informer().GetIndexer().Add(pod("a", "10.0.0.1", "", true, 80))
	if err := c.sync(ctx, "default/web"); err != nil {
		t.Fatal(err)
	}
	ss = slices(t, client)
	if len(ss) != 1 || ss[0].Name == placeholder || len(ss[0].Endpoints) != 1 {
		t.Errorf("with a pod: got %+v, want one slice with its endpoint in place of %s", ss, placeholder)
	}
}

func TestServiceWithoutSelectorIsLeftAlone(t *testing.T) {
	s := svc(intstr.FromInt32(80))
	s.Name, s.Namespace, s.Spec.Selector = "kubernetes", "default", nil
	c, client, _ := newFixture(t, s, pod("a", "10.0.0.1", "", true, 80))
	if err := c.sync(context.Background(), "default/kubernetes"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("got %d API calls for a selectorless service, want 0", n)
	}
}

// TestHostnameOfSubdomainPods: a pod whose subdomain names the Service
// is an endpoint with its hostname (what cluster DNS answers
// <hostname>.<service>.<ns>.svc for); another Service's pod is not.
func TestHostnameOfSubdomainPods(t *testing.T) {
	member := pod("web-0", "10.0.0.1", "n1", true, 8080)
	member.Spec.Hostname, member.Spec.Subdomain = "web-0", "web"
	other := pod("other-0", "10.0.0.2", "n1", true, 8080)
	other.Spec.Hostname, other.Spec.Subdomain = "other-0", "other"
	c, client, _ := newFixture(t, svc(intstr.FromInt32(8080)), node("n1", corev1.ConditionTrue), member, other)
	if err := c.sync(context.Background(), "default/web"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"web-0": "web-0", "other-0": ""}
	for _, s := range slices(t, client) {
		for _, e := range s.Endpoints {
			got := ""
			if e.Hostname != nil {
				got = *e.Hostname
			}
			if got != want[e.TargetRef.Name] {
				t.Errorf("slice endpoint %s: got hostname %q, want %q", e.TargetRef.Name, got, want[e.TargetRef.Name])
			}
		}
	}
	ep, err := client.CoreV1().Endpoints("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ep.Subsets[0].Addresses {
		if a.Hostname != want[a.TargetRef.Name] {
			t.Errorf("endpoints address %s: got hostname %q, want %q", a.TargetRef.Name, a.Hostname, want[a.TargetRef.Name])
		}
	}
}
