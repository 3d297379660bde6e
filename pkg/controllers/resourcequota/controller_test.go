package resourcequota

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func pod(name string, mut func(*corev1.Pod), containers ...corev1.ResourceRequirements) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for i, r := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + string(rune('0'+i)), Resources: r})
	}
	if mut != nil {
		mut(p)
	}
	return p
}

func req(kv ...string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: rl(kv...)}
}

func reqLim(r, l corev1.ResourceList) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: r, Limits: l}
}

type fakeCounter map[schema.GroupResource]int64

func (f fakeCounter) Count(_ context.Context, _ string, gr schema.GroupResource) (int64, error) {
	return f[gr], nil
}

func TestSyncUsage(t *testing.T) {
	deadline := int64(30)
	tests := []struct {
		name   string
		quota  corev1.ResourceQuota
		objs   []runtime.Object
		counts fakeCounter
		want   corev1.ResourceList
	}{{
		name:  "pods and compute, terminal and other namespaces left out",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10", "requests.cpu", "4", "cpu", "4", "limits.memory", "1Gi", "requests.memory", "1Gi")}},
		objs: []runtime.Object{
			pod("a", nil, reqLim(rl("cpu", "500m", "memory", "100Mi"), rl("memory", "200Mi"))),
			pod("b", nil, req("cpu", "250m"), req("cpu", "250m")),
			pod("done", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, req("cpu", "1")),
			pod("other", func(p *corev1.Pod) { p.Namespace = "elsewhere" }, req("cpu", "1")),
		},
		want: rl("pods", "2", "requests.cpu", "1", "cpu", "1", "limits.memory", "200Mi", "requests.memory", "100Mi"),
	}, {
		name:  "init containers: the larger of the biggest init container and the sum, plus overhead",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("requests.cpu", "10")}},
		objs: []runtime.Object{pod("a", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Resources: req("cpu", "2")}}
			p.Spec.Overhead = rl("cpu", "100m")
		}, req("cpu", "1"))},
		want: rl("requests.cpu", "2100m"),
	}, {
		name:  "pod past its deletion grace period is not charged, count/pods still counts it",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10", "count/pods", "10")}},
		objs: []runtime.Object{pod("gone", func(p *corev1.Pod) {
			grace := int64(30)
			p.DeletionTimestamp = &metav1.Time{Time: now.Add(-time.Minute)}
			p.DeletionGracePeriodSeconds = &grace
		})},
		want: rl("pods", "0", "count/pods", "1"),
	}, {
		name:  "services, load balancers and node ports",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("services", "10", "services.loadbalancers", "10", "services.nodeports", "10")}},
		objs: []runtime.Object{
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "n", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 1}, {Port: 2}}}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 1}}}},
		},
		want: rl("services", "3", "services.loadbalancers", "1", "services.nodeports", "3"),
	}, {
		name:  "claims and storage",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("persistentvolumeclaims", "5", "requests.storage", "10Gi")}},
		objs: []runtime.Object{
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "1Gi")}}},
			&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}, Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", "2Gi")}}},
		},
		want: rl("persistentvolumeclaims", "2", "requests.storage", "3Gi"),
	}, {
		name:  "DRA resource claims: counted once, devices by class (the worst case of firstAvailable)",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("count/resourceclaims.resource.k8s.io", "5", "gpu.deviceclass.resource.k8s.io/devices", "10", "fpga.deviceclass.resource.k8s.io/devices", "10")}},
		objs: []runtime.Object{
			&resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}, Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{
				{Name: "r", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpu", AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: 2}},
			}}}},
			&resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}, Spec: resourcev1.ResourceClaimSpec{Devices: resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{
				{Name: "r", FirstAvailable: []resourcev1.DeviceSubRequest{
					{Name: "big", DeviceClassName: "gpu", AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: 3},
					{Name: "small", DeviceClassName: "gpu", AllocationMode: resourcev1.DeviceAllocationModeExactCount, Count: 1},
				}},
			}}}},
			&resourcev1.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "elsewhere"}},
		},
		counts: fakeCounter{{Group: "resource.k8s.io", Resource: "resourceclaims"}: 100},
		want:   rl("count/resourceclaims.resource.k8s.io", "2", "gpu.deviceclass.resource.k8s.io/devices", "5", "fpga.deviceclass.resource.k8s.io/devices", "0"),
	}, {
		name:  "object counts: legacy names, count/ of core and of other groups",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("configmaps", "5", "count/configmaps", "5", "secrets", "5", "resourcequotas", "1", "count/deployments.apps", "5", "count/widgets.example.com", "5")}},
		objs: []runtime.Object{
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns"}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns"}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}},
		},
		counts: fakeCounter{{Group: "apps", Resource: "deployments"}: 3},
		want:   rl("configmaps", "2", "count/configmaps", "2", "secrets", "1", "resourcequotas", "1", "count/deployments.apps", "3", "count/widgets.example.com", "0"),
	}, {
		name:  "scopes: Terminating and NotBestEffort",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10"), Scopes: []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotBestEffort}}},
		objs: []runtime.Object{
			pod("term-be", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = &deadline }),
			pod("term", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = &deadline }, req("cpu", "1")),
			pod("long", nil, req("cpu", "1")),
		},
		want: rl("pods", "1"),
	}, {
		name: "scope selector on priority classes",
		quota: corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: rl("pods", "10"), ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: corev1.ResourceQuotaScopePriorityClass, Operator: corev1.ScopeSelectorOpIn, Values: []string{"high"}},
		}}}},
		objs: []runtime.Object{
			pod("h", func(p *corev1.Pod) { p.Spec.PriorityClassName = "high" }),
			pod("l", func(p *corev1.Pod) { p.Spec.PriorityClassName = "low" }),
			pod("none", nil),
		},
		want: rl("pods", "1"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rq := tt.quota.DeepCopy()
			rq.Name, rq.Namespace = "q", "ns"
			objs := append([]runtime.Object{rq}, tt.objs...)
			client := fake.NewClientset(objs...)
			factory := informers.NewSharedInformerFactory(client, 0)
			c := New(client, factory, tt.counts)
			c.now = func() time.Time { return now }
			ctx := t.Context()
			factory.Start(ctx.Done())
			factory.WaitForCacheSync(ctx.Done())
			if err := c.sync(ctx, "ns/q"); err != nil {
				t.Fatalf("sync: %v", err)
			}
			got, err := client.CoreV1().ResourceQuotas("ns").Get(ctx, "q", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !equalLists(got.Status.Used, tt.want) {
				t.Errorf("got used %v, want %v", got.Status.Used, tt.want)
			}
			if !equalLists(got.Status.Hard, rq.Spec.Hard) {
				t.Errorf("got hard %v, want %v", got.Status.Hard, rq.Spec.Hard)
			}
		})
	}
}

// TestSyncUnchanged: a status already right is not written again.
func TestSyncUnchanged(t *testing.T) {
	rq := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"},
		Spec:   corev1.ResourceQuotaSpec{Hard: rl("pods", "2")},
		Status: corev1.ResourceQuotaStatus{Hard: rl("pods", "2"), Used: rl("pods", "1")}}
	client := fake.NewClientset(rq, pod("a", nil))
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, nil)
	ctx := t.Context()
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	client.ClearActions()
	if err := c.sync(ctx, "ns/q"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	if got := len(client.Actions()); got != 0 {
		t.Errorf("got %d actions, want 0: %v", got, client.Actions())
	}
}
