package apiserver

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/kubernetes/fake"
	corev1listers "k8s.io/client-go/listers/core/v1"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func quotaList(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func testQuota(name string, hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", ResourceVersion: "1"},
		Spec: corev1.ResourceQuotaSpec{Hard: hard}, Status: corev1.ResourceQuotaStatus{Hard: hard, Used: used}}
}

func quotaPod(name string, res corev1.ResourceRequirements) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "x", Resources: res}}}}
}

func createAttrs(obj runtime.Object, resource string, dryRun bool) admission.Attributes {
	m, _ := metav1Accessor(obj)
	gvr := corev1.SchemeGroupVersion.WithResource(resource)
	if resource == "resourceclaims" {
		gvr = resourcev1.SchemeGroupVersion.WithResource(resource)
	}
	return admission.NewAttributesRecord(obj, nil, corev1.SchemeGroupVersion.WithKind("X"), "ns", m.GetName(), gvr, "", admission.Create, &metav1.CreateOptions{}, dryRun, nil)
}

func quotaClaim(name, class string, count int64) *resourcev1.ResourceClaim {
	return &resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{
			Name: "r", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: class, AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: count},
		}}}}}
}

func metav1Accessor(obj runtime.Object) (metav1.Object, bool) {
	m, ok := obj.(metav1.Object)
	return m, ok
}

func TestQuotaAdmission(t *testing.T) {
	cpu1 := corev1.ResourceRequirements{Requests: quotaList("cpu", "1")}
	tests := []struct {
		name     string
		quotas   []*corev1.ResourceQuota
		obj      runtime.Object
		resource string
		dryRun   bool
		wantErr  string
		// wantUsed is the used written to the first quota; nil: no write.
		wantUsed corev1.ResourceList
	}{{
		name:     "under the limits: charged",
		quotas:   []*corev1.ResourceQuota{testQuota("compute", quotaList("pods", "2", "requests.cpu", "2"), quotaList("pods", "1", "requests.cpu", "1"))},
		obj:      quotaPod("p", cpu1),
		resource: "pods",
		wantUsed: quotaList("pods", "2", "requests.cpu", "2"),
	}, {
		name:     "over requests.cpu",
		quotas:   []*corev1.ResourceQuota{testQuota("compute", quotaList("requests.cpu", "2"), quotaList("requests.cpu", "2"))},
		obj:      quotaPod("p", cpu1),
		resource: "pods",
		wantErr:  `pods "p" is forbidden: exceeded quota: compute, requested: requests.cpu=1, used: requests.cpu=2, limited: requests.cpu=2`,
	}, {
		name:     "a tracked compute resource not specified",
		quotas:   []*corev1.ResourceQuota{testQuota("compute", quotaList("requests.cpu", "2", "limits.cpu", "2"), quotaList("requests.cpu", "0", "limits.cpu", "0"))},
		obj:      quotaPod("p", corev1.ResourceRequirements{}),
		resource: "pods",
		wantErr:  `pods "p" is forbidden: failed quota: compute: must specify limits.cpu for: app; requests.cpu for: app`,
	}, {
		// As upstream: a quota the controller has not seen yet (no
		// status.hard) limits nothing.
		name:     "status not yet written by the controller",
		quotas:   []*corev1.ResourceQuota{{ObjectMeta: metav1.ObjectMeta{Name: "compute", Namespace: "ns"}, Spec: corev1.ResourceQuotaSpec{Hard: quotaList("pods", "0")}}},
		obj:      quotaPod("p", cpu1),
		resource: "pods",
	}, {
		name:     "status without the usage of a hard resource",
		quotas:   []*corev1.ResourceQuota{testQuota("compute", quotaList("pods", "2", "requests.cpu", "2"), quotaList("pods", "0"))},
		obj:      quotaPod("p", cpu1),
		resource: "pods",
		wantErr:  `pods "p" is forbidden: status unknown for quota: compute, resources: pods,requests.cpu`,
	}, {
		name:     "count of configmaps",
		quotas:   []*corev1.ResourceQuota{testQuota("objects", quotaList("count/configmaps", "1"), quotaList("count/configmaps", "1"))},
		obj:      &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}},
		resource: "configmaps",
		wantErr:  `configmaps "cm" is forbidden: exceeded quota: objects, requested: count/configmaps=1, used: count/configmaps=1, limited: count/configmaps=1`,
	}, {
		name:     "a resource the quota does not track",
		quotas:   []*corev1.ResourceQuota{testQuota("compute", quotaList("pods", "0"), quotaList("pods", "0"))},
		obj:      &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns"}},
		resource: "configmaps",
	}, {
		name:     "a resource claim: its count and its devices by class",
		quotas:   []*corev1.ResourceQuota{testQuota("dra", quotaList("count/resourceclaims.resource.k8s.io", "3", "gpu.deviceclass.resource.k8s.io/devices", "4"), quotaList("count/resourceclaims.resource.k8s.io", "1", "gpu.deviceclass.resource.k8s.io/devices", "1"))},
		obj:      quotaClaim("c", "gpu", 2),
		resource: "resourceclaims",
		wantUsed: quotaList("count/resourceclaims.resource.k8s.io", "2", "gpu.deviceclass.resource.k8s.io/devices", "3"),
	}, {
		name:     "a resource claim over its class's devices",
		quotas:   []*corev1.ResourceQuota{testQuota("dra", quotaList("gpu.deviceclass.resource.k8s.io/devices", "2"), quotaList("gpu.deviceclass.resource.k8s.io/devices", "1"))},
		obj:      quotaClaim("c", "gpu", 2),
		resource: "resourceclaims",
		wantErr:  `resourceclaims.resource.k8s.io "c" is forbidden: exceeded quota: dra, requested: gpu.deviceclass.resource.k8s.io/devices=2, used: gpu.deviceclass.resource.k8s.io/devices=1, limited: gpu.deviceclass.resource.k8s.io/devices=2`,
	}, {
		name:     "a resource claim over the count of claims",
		quotas:   []*corev1.ResourceQuota{testQuota("object-count", quotaList("count/resourceclaims.resource.k8s.io", "1"), quotaList("count/resourceclaims.resource.k8s.io", "1"))},
		obj:      quotaClaim("c", "gpu", 1),
		resource: "resourceclaims",
		wantErr:  `resourceclaims.resource.k8s.io "c" is forbidden: exceeded quota: object-count, requested: count/resourceclaims.resource.k8s.io=1, used: count/resourceclaims.resource.k8s.io=1, limited: count/resourceclaims.resource.k8s.io=1`,
	}, {
		name:     "dry run: checked, not charged",
		quotas:   []*corev1.ResourceQuota{testQuota("compute", quotaList("pods", "2"), quotaList("pods", "0"))},
		obj:      quotaPod("p", cpu1),
		resource: "pods",
		dryRun:   true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
			for _, rq := range tt.quotas {
				objs = append(objs, rq)
				_ = indexer.Add(rq)
			}
			client := fake.NewClientset(objs...)
			client.ClearActions()
			q := newResourceQuota(corev1listers.NewResourceQuotaLister(indexer), client.CoreV1())
			err := q.admit(context.Background(), createAttrs(tt.obj, tt.resource, tt.dryRun), tt.quotas)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			case tt.wantErr != "" && !apierrors.IsForbidden(err):
				t.Fatalf("got %v, want a 403 Forbidden", err)
			}
			var writes []clienttesting.UpdateAction
			for _, a := range client.Actions() {
				if u, ok := a.(clienttesting.UpdateAction); ok {
					writes = append(writes, u)
				}
			}
			if tt.wantUsed == nil {
				if len(writes) != 0 {
					t.Fatalf("got %d quota writes, want none", len(writes))
				}
				return
			}
			if len(writes) != 1 || writes[0].GetSubresource() != "status" {
				t.Fatalf("got writes %v, want one of status", writes)
			}
			got := writes[0].GetObject().(*corev1.ResourceQuota).Status.Used
			if !equalResources(got, tt.wantUsed) {
				t.Errorf("got used %v, want %v", got, tt.wantUsed)
			}
		})
	}
}

// TestQuotaAdmissionConflict: when the quota was charged meanwhile, the
// request is checked again against the quota read anew, and refused if
// that one took the last unit.
func TestQuotaAdmissionConflict(t *testing.T) {
	stale := testQuota("compute", quotaList("pods", "2"), quotaList("pods", "1"))
	fresh := testQuota("compute", quotaList("pods", "2"), quotaList("pods", "2"))
	fresh.ResourceVersion = "2"
	client := fake.NewClientset(fresh)
	client.PrependReactor("update", "resourcequotas", func(a clienttesting.Action) (bool, runtime.Object, error) {
		if a.(clienttesting.UpdateAction).GetObject().(*corev1.ResourceQuota).ResourceVersion != "2" {
			return true, nil, apierrors.NewConflict(corev1.Resource("resourcequotas"), "compute", nil)
		}
		return false, nil, nil
	})
	q := newResourceQuota(nil, client.CoreV1())
	err := q.admit(context.Background(), createAttrs(quotaPod("p", corev1.ResourceRequirements{}), "pods", false), []*corev1.ResourceQuota{stale})
	want := `pods "p" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for r, q := range a {
		if o, ok := b[r]; !ok || o.Cmp(q) != 0 {
			return false
		}
	}
	return true
}

// TestQuotaAdmissionUpdate: turning a Service into a LoadBalancer is
// charged services.loadbalancers, and refused beyond the quota.
func TestQuotaAdmissionUpdate(t *testing.T) {
	old := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}}
	lb := old.DeepCopy()
	lb.Spec.Type = corev1.ServiceTypeLoadBalancer
	tests := []struct {
		name     string
		hard     corev1.ResourceList
		used     corev1.ResourceList
		wantErr  string
		wantUsed corev1.ResourceList
	}{{
		name:     "within the quota",
		hard:     quotaList("services.loadbalancers", "1"),
		used:     quotaList("services.loadbalancers", "0"),
		wantUsed: quotaList("services.loadbalancers", "1"),
	}, {
		name:    "beyond it",
		hard:    quotaList("services.loadbalancers", "0"),
		used:    quotaList("services.loadbalancers", "0"),
		wantErr: `services "s" is forbidden: exceeded quota: q, requested: services.loadbalancers=1, used: services.loadbalancers=0, limited: services.loadbalancers=0`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := testQuota("q", tt.hard, tt.used)
			client := fake.NewClientset(rq)
			q := newResourceQuota(nil, client.CoreV1())
			attrs := admission.NewAttributesRecord(lb, old, corev1.SchemeGroupVersion.WithKind("Service"), "ns", "s",
				corev1.SchemeGroupVersion.WithResource("services"), "", admission.Update, &metav1.UpdateOptions{}, false, nil)
			err := q.admit(context.Background(), attrs, []*corev1.ResourceQuota{rq})
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got, _ := client.CoreV1().ResourceQuotas("ns").Get(context.Background(), "q", metav1.GetOptions{})
			if !equalResources(got.Status.Used, tt.wantUsed) {
				t.Errorf("got used %v, want %v", got.Status.Used, tt.wantUsed)
			}
		})
	}
}
