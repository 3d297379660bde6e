package api

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestValidateNamespace(t *testing.T) {
	tests := []struct {
		name string
		ns   corev1.Namespace
		want []wantErr
	}{
		{name: "valid", ns: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}},
		{name: "name is a DNS-1123 label, no dots", ns: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team.a"}}, want: []wantErr{invalid("metadata.name")}},
		{name: "namespace field forbidden", ns: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "b"}}, want: []wantErr{forbidden("metadata.namespace")}},
		{name: "unqualified finalizer", ns: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"mine"}}},
			want: []wantErr{invalid("spec.finalizers[0]")}},
		{name: "qualified finalizer", ns: corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"example.com/cleanup"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := tt.ns.DeepCopy()
			namespaceStrategy.Default(ns)
			checkErrs(t, namespaceStrategy.Validate(ctx, ns), tt.want...)
		})
	}
}

func TestNamespaceUpdateAndFinalize(t *testing.T) {
	old := stored(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}})
	namespaceStrategy.Default(old)
	namespaceStrategy.PrepareForCreate(ctx, old)

	// A plain update cannot drop the finalizer or change the phase.
	upd := old.DeepCopy()
	upd.Spec.Finalizers = nil
	upd.Status.Phase = corev1.NamespaceTerminating
	namespaceStrategy.PrepareForUpdate(ctx, upd, old)
	if len(upd.Spec.Finalizers) != 1 || upd.Status.Phase != corev1.NamespaceActive {
		t.Errorf("update changed finalizers %v / phase %s", upd.Spec.Finalizers, upd.Status.Phase)
	}
	checkErrs(t, namespaceStrategy.ValidateUpdate(ctx, upd, old))

	// The finalize subresource can.
	fin := old.DeepCopy()
	fin.Spec.Finalizers = nil
	fin.Labels = map[string]string{"ignored": "yes"}
	PrepareNamespaceFinalize(fin, old)
	if len(fin.Spec.Finalizers) != 0 || fin.Labels["ignored"] != "" {
		t.Errorf("finalize: finalizers %v labels %v", fin.Spec.Finalizers, fin.Labels)
	}
	checkErrs(t, ValidateNamespaceFinalize(fin, old))

	// Status: Terminating only with a deletionTimestamp.
	st := old.DeepCopy()
	st.Status.Phase = corev1.NamespaceTerminating
	checkErrs(t, namespaceStrategy.ValidateStatusUpdate(ctx, st, old), invalid("status.phase"))
	ts := metav1.Now()
	st.DeletionTimestamp = &ts
	old.DeletionTimestamp = &ts
	checkErrs(t, namespaceStrategy.ValidateStatusUpdate(ctx, st, old))
}

func TestValidateNode(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Node)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*corev1.Node) {}},
		{name: "bad name", mutate: func(n *corev1.Node) { n.Name = "Node_1" }, want: []wantErr{invalid("metadata.name")}},
		{name: "bad pod CIDR", mutate: func(n *corev1.Node) {
			n.Spec.PodCIDR = "10.244.1.0/33"
			n.Spec.PodCIDRs = []string{"10.244.1.0/33"}
		}, want: []wantErr{invalid("spec.podCIDR"), invalid("spec.podCIDRs[0]")}},
		{name: "podCIDRs must start with podCIDR", mutate: func(n *corev1.Node) {
			n.Spec.PodCIDR = "10.244.1.0/24"
			n.Spec.PodCIDRs = []string{"10.244.2.0/24"}
		}, want: []wantErr{invalid("spec.podCIDRs[0]")}},
		{name: "taint without effect", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "dedicated", Value: "db"}}
		}, want: []wantErr{required("spec.taints[0].effect")}},
		{name: "duplicate taints", mutate: func(n *corev1.Node) {
			n.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Value: "v", Effect: corev1.TaintEffectNoSchedule}}
		}, want: []wantErr{duplicate("spec.taints[1]")}},
		{name: "negative capacity", mutate: func(n *corev1.Node) {
			n.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-2")}
		}, want: []wantErr{invalid("status.capacity[cpu]"), invalid("status.allocatable[cpu]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}
			tt.mutate(n)
			nodeStrategy.Default(n)
			checkErrs(t, nodeStrategy.Validate(ctx, n), tt.want...)
		})
	}

	old := stored(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}, Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}}})
	upd := old.DeepCopy()
	upd.Spec.PodCIDR, upd.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"}
	checkErrs(t, nodeStrategy.ValidateUpdate(ctx, upd, old), forbidden("spec.podCIDRs"))
	cordon := old.DeepCopy()
	cordon.Spec.Unschedulable = true
	checkErrs(t, nodeStrategy.ValidateUpdate(ctx, cordon, old))
}

func TestValidateEndpoints(t *testing.T) {
	ep := func(subsets ...corev1.EndpointSubset) *corev1.Endpoints {
		e := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Subsets: subsets}
		endpointsStrategy.Default(e)
		return e
	}
	tests := []struct {
		name string
		ep   *corev1.Endpoints
		want []wantErr
	}{
		{name: "valid", ep: ep(corev1.EndpointSubset{
			Addresses:         []corev1.EndpointAddress{{IP: "10.244.1.5", NodeName: ptr.To("node1")}},
			NotReadyAddresses: []corev1.EndpointAddress{{IP: "10.244.2.5"}},
			Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "metrics", Port: 9090}},
		})},
		{name: "empty is valid", ep: ep()},
		{name: "subset without addresses", ep: ep(corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Port: 80}}}), want: []wantErr{required("subsets[0]")}},
		{name: "bad address", ep: ep(corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "10.244.1"}}}), want: []wantErr{invalid("subsets[0].addresses[0].ip")}},
		{name: "bad port", ep: ep(corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5"}}, Ports: []corev1.EndpointPort{{Port: 0}}}),
			want: []wantErr{invalid("subsets[0].ports[0].port")}},
		{name: "unnamed second port", ep: ep(corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5"}}, Ports: []corev1.EndpointPort{{Name: "a", Port: 1}, {Port: 2}}}),
			want: []wantErr{required("subsets[0].ports[1].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, endpointsStrategy.Validate(ctx, tt.ep), tt.want...)
		})
	}
}

func TestValidateEvent(t *testing.T) {
	ev := func(mutate func(*corev1.Event)) *corev1.Event {
		e := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.17a", Namespace: "default"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
			Reason:         "Started", Type: corev1.EventTypeNormal,
		}
		mutate(e)
		return e
	}
	tests := []struct {
		name string
		ev   *corev1.Event
		want []wantErr
	}{
		{name: "valid", ev: ev(func(*corev1.Event) {})},
		{name: "node event in default namespace", ev: ev(func(e *corev1.Event) { e.InvolvedObject = corev1.ObjectReference{Kind: "Node", Name: "node1"} })},
		{name: "namespace mismatch", ev: ev(func(e *corev1.Event) { e.InvolvedObject.Namespace = "other" }), want: []wantErr{invalid("involvedObject.namespace")}},
		{name: "type unknown", ev: ev(func(e *corev1.Event) { e.Type = "Fatal" }), want: []wantErr{notSupported("type")}},
		{name: "new-style event needs reportingComponent", ev: ev(func(e *corev1.Event) { e.EventTime = metav1.NewMicroTime(time.Unix(1, 0)) }),
			want: []wantErr{required("reportingComponent")}},
		{name: "new-style event", ev: ev(func(e *corev1.Event) {
			e.EventTime = metav1.NewMicroTime(time.Unix(1, 0))
			e.ReportingController = "minik8s.io/kubelet"
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, eventStrategy.Validate(ctx, tt.ev), tt.want...)
		})
	}
}

func TestValidateEndpointSlice(t *testing.T) {
	slice := func(mutate func(*discoveryv1.EndpointSlice)) *discoveryv1.EndpointSlice {
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: "default"},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: ptr.To("node1")}},
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(8080))}},
		}
		mutate(es)
		endpointSliceStrategy.Default(es)
		return es
	}
	tests := []struct {
		name string
		es   *discoveryv1.EndpointSlice
		want []wantErr
	}{
		{name: "valid", es: slice(func(*discoveryv1.EndpointSlice) {})},
		{name: "address type required", es: slice(func(es *discoveryv1.EndpointSlice) { es.AddressType = "" }), want: []wantErr{required("addressType")}},
		{name: "address type unknown", es: slice(func(es *discoveryv1.EndpointSlice) { es.AddressType = "MAC" }), want: []wantErr{notSupported("addressType")}},
		{name: "IPv6 address in IPv4 slice", es: slice(func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = []string{"fd00::1"} }),
			want: []wantErr{invalid("endpoints[0].addresses[0]")}},
		{name: "endpoint without address", es: slice(func(es *discoveryv1.EndpointSlice) { es.Endpoints[0].Addresses = nil }),
			want: []wantErr{required("endpoints[0].addresses")}},
		{name: "port out of range", es: slice(func(es *discoveryv1.EndpointSlice) { es.Ports[0].Port = ptr.To(int32(70000)) }),
			want: []wantErr{invalid("ports[0].port")}},
		{name: "duplicate port names", es: slice(func(es *discoveryv1.EndpointSlice) {
			es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptr.To("http"), Port: ptr.To(int32(9090))})
		}), want: []wantErr{duplicate("ports[1].name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErrs(t, endpointSliceStrategy.Validate(ctx, tt.es), tt.want...)
		})
	}

	old := stored(slice(func(*discoveryv1.EndpointSlice) {}))
	upd := old.DeepCopy()
	upd.AddressType = discoveryv1.AddressTypeIPv6
	upd.Endpoints[0].Addresses = []string{"fd00::1"}
	checkErrs(t, endpointSliceStrategy.ValidateUpdate(ctx, upd, old), invalid("addressType"))
}

func TestValidateLease(t *testing.T) {
	lease := func(spec coordinationv1.LeaseSpec) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node1", Namespace: "kube-node-lease"}, Spec: spec}
	}
	checkErrs(t, leaseStrategy.Validate(ctx, lease(coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node1"), LeaseDurationSeconds: ptr.To(int32(40))})))
	checkErrs(t, leaseStrategy.Validate(ctx, lease(coordinationv1.LeaseSpec{LeaseDurationSeconds: ptr.To(int32(0))})), invalid("spec.leaseDurationSeconds"))
	checkErrs(t, leaseStrategy.Validate(ctx, lease(coordinationv1.LeaseSpec{LeaseTransitions: ptr.To(int32(-1))})), invalid("spec.leaseTransitions"))
}
