package api

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestAttrsAndFieldSelectors(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.NodeName = "node1"
		p.Spec.ServiceAccountName = "default"
	})
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}

	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1", APIVersion: "v1", FieldPath: "spec.containers{app}"},
		Reason:              "Pulled",
		Type:                corev1.EventTypeNormal,
		ReportingController: "kubelet",
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Spec: corev1.NodeSpec{Unschedulable: true}}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default"}, Status: appsv1.ReplicaSetStatus{Replicas: 3}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10"}}

	tests := []struct {
		obj      runtime.Object
		selector string
		match    bool
	}{
		{pod, "metadata.name=web", true},
		{pod, "metadata.namespace=default", true},
		{pod, "metadata.namespace!=default", false},
		{pod, "spec.nodeName=node1", true},
		{pod, "spec.nodeName=", false},
		{pod, "spec.restartPolicy=Always", true},
		{pod, "spec.schedulerName=default-scheduler", true},
		{pod, "spec.serviceAccountName=default", true},
		{pod, "status.phase=Running,spec.nodeName=node1", true},
		{pod, "status.phase=Pending", false},
		{pod, "status.podIP=10.244.1.5", true},
		{ev, "involvedObject.kind=Pod,involvedObject.name=web", true},
		{ev, "involvedObject.namespace=default,involvedObject.uid=u1", true},
		{ev, "involvedObject.apiVersion=v1,involvedObject.fieldPath=spec.containers{app}", true},
		{ev, "reason=Pulled,type=Normal", true},
		{ev, "type=Warning", false},
		{ev, "source=kubelet,reportingComponent=kubelet", true},
		{node, "spec.unschedulable=true", true},
		{node, "metadata.name=node1", true},
		{ns, "status.phase=Terminating", true},
		{rs, "status.replicas=3", true},
		{rs, "status.replicas!=0", true},
		{svc, "spec.clusterIP=10.96.0.10,spec.type=NodePort", true},
	}
	for _, tt := range tests {
		r := resourceFor(t, tt.obj)
		t.Run(r.Plural+" "+tt.selector, func(t *testing.T) {
			sel, err := fields.ParseSelector(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			for _, req := range sel.Requirements() {
				if !r.Strategy.FieldLabelSupported(req.Field) {
					t.Errorf("%s does not support %s", r.Plural, req.Field)
				}
			}
			_, fs, err := r.Strategy.Attrs(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(fs); got != tt.match {
				t.Errorf("match = %v, want %v (fields %v)", got, tt.match, fs)
			}
		})
	}
}

func TestFieldLabelUnsupported(t *testing.T) {
	for _, c := range []struct{ plural, label string }{
		{"pods", "spec.containers"},
		{"nodes", "status.phase"},
		{"deployments", "spec.replicas"},
		{"events", "message"},
	} {
		r := lookupPlural(t, c.plural)
		if r.Strategy.FieldLabelSupported(c.label) {
			t.Errorf("%s claims to support %s", c.plural, c.label)
		}
	}
	for _, r := range Resources() {
		if r.Virtual {
			continue
		}
		// Upstream's field labels for PodCertificateRequests leave out
		// metadata.namespace, so Kubernetes refuses it there too.
		wantNamespace := r.Namespaced && r.Plural != "podcertificaterequests"
		if !r.Strategy.FieldLabelSupported("metadata.name") || wantNamespace && !r.Strategy.FieldLabelSupported("metadata.namespace") {
			t.Errorf("%s lacks the metadata field selectors", r.Plural)
		}
	}
}

func TestAttrsLabels(t *testing.T) {
	pod := defaultedPod(nil)
	ls, _, err := podStrategy.Attrs(pod)
	if err != nil || ls.Get("app") != "web" {
		t.Errorf("labels = %v, %v", ls, err)
	}
}

func resourceFor(t *testing.T, obj runtime.Object) *Resource {
	t.Helper()
	r, ok := LookupKind(mustKind(t, obj))
	if !ok {
		t.Fatalf("no resource for %T", obj)
	}
	return r
}

func lookupPlural(t *testing.T, plural string) *Resource {
	t.Helper()
	for _, r := range Resources() {
		if r.Plural == plural {
			return r
		}
	}
	t.Fatalf("no resource %s", plural)
	return nil
}
