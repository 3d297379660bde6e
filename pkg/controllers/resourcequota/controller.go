package resourcequota

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	resourcelisters "k8s.io/client-go/listers/resource/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	quotacore "k8s.io/kubernetes/pkg/quota/v1/evaluator/core"

	"minik8s/pkg/controllers/reconcile"
)

// Name is the controller's name in kube-controller-manager.
const Name = "resourcequota-controller"

// ResyncPeriod is how often every quota is recalculated in full, as
// kube-controller-manager's --resource-quota-sync-period defaults.
const ResyncPeriod = 5 * time.Minute

// Counter counts the objects of a resource in a namespace, for the
// count/<resource>.<group> quotas of resources the controller has no
// informer for.
type Counter interface {
	Count(ctx context.Context, namespace string, gr schema.GroupResource) (int64, error)
}

// Controller is the ResourceQuota controller.
type Controller struct {
	client  kubernetes.Interface
	quotas  corelisters.ResourceQuotaLister
	pods    corelisters.PodLister
	svcs    corelisters.ServiceLister
	pvcs    corelisters.PersistentVolumeClaimLister
	cms     corelisters.ConfigMapLister
	secrets corelisters.SecretLister
	claims  resourcelisters.ResourceClaimLister
	counter Counter
	synced  []cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
	now     func() time.Time
}

// New wires the controller to the factory's informers; counter (nil: none)
// counts the resources of other count/ quotas. Queue keys are quotas'
// namespace/name.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, counter Counter) *Controller {
	core := factory.Core().V1()
	c := &Controller{
		client:  client,
		quotas:  core.ResourceQuotas().Lister(),
		pods:    core.Pods().Lister(),
		svcs:    core.Services().Lister(),
		pvcs:    core.PersistentVolumeClaims().Lister(),
		cms:     core.ConfigMaps().Lister(),
		secrets: core.Secrets().Lister(),
		claims:  factory.Resource().V1().ResourceClaims().Lister(),
		counter: counter,
		queue:   reconcile.NewQueue("resourcequota"),
		now:     time.Now,
	}
	for _, inf := range []cache.SharedIndexInformer{core.ResourceQuotas().Informer(), core.Pods().Informer(), core.Services().Informer(),
		core.PersistentVolumeClaims().Informer(), core.ConfigMaps().Informer(), core.Secrets().Informer(),
		factory.Resource().V1().ResourceClaims().Informer()} {
		c.synced = append(c.synced, inf.HasSynced)
	}
	core.ResourceQuotas().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { reconcile.Enqueue(c.queue, obj) },
		// A change of spec, or a status someone else wrote (not what
		// admission charges: used alone changed).
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.ResourceQuota), cur.(*corev1.ResourceQuota)
			if o.Generation != n.Generation || !equalLists(n.Spec.Hard, n.Status.Hard) {
				reconcile.Enqueue(c.queue, cur)
			}
		},
	})
	// Creates are charged by admission; what frees quota is a delete, a
	// pod that finishes, and updates that change usage (admission charges
	// what they add, but an update retried on conflict may be charged
	// twice).
	core.Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
			terminating := func(p *corev1.Pod) bool { return p.Spec.ActiveDeadlineSeconds != nil }
			if podCounts(o, c.now()) != podCounts(n, c.now()) || terminating(o) != terminating(n) {
				c.enqueueNamespace(n.Namespace)
			}
		},
		DeleteFunc: c.objectDeleted,
	})
	core.Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			if old.(*corev1.Service).Spec.Type != cur.(*corev1.Service).Spec.Type {
				c.enqueueNamespace(cur.(*corev1.Service).Namespace)
			}
		},
		DeleteFunc: c.objectDeleted,
	})
	core.PersistentVolumeClaims().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.PersistentVolumeClaim), cur.(*corev1.PersistentVolumeClaim)
			if !equalLists(claimUsage(o), claimUsage(n)) {
				c.enqueueNamespace(n.Namespace)
			}
		},
		DeleteFunc: c.objectDeleted,
	})
	// A ResourceClaim's spec does not change: only its delete frees quota.
	for _, inf := range []cache.SharedIndexInformer{core.ConfigMaps().Informer(), core.Secrets().Informer(), factory.Resource().V1().ResourceClaims().Informer()} {
		inf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.objectDeleted})
	}
	return c
}

func (c *Controller) objectDeleted(obj any) {
	if m, ok := reconcile.Object[metav1.Object](obj); ok {
		c.enqueueNamespace(m.GetNamespace())
	}
}

func (c *Controller) enqueueNamespace(ns string) {
	quotas, err := c.quotas.ResourceQuotas(ns).List(labels.Everything())
	if err != nil {
		return
	}
	for _, rq := range quotas {
		c.queue.Add(rq.Namespace + "/" + rq.Name)
	}
}

// Run starts workers and the periodic full recalculation, and blocks
// until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	go c.resync(ctx)
	reconcile.Run(ctx, Name, c.queue, workers, c.synced, reconcile.Plain(c.sync))
}

// resync queues every quota each ResyncPeriod (the informers' add events
// queue them at start).
func (c *Controller) resync(ctx context.Context) {
	t := time.NewTicker(ResyncPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		quotas, err := c.quotas.List(labels.Everything())
		if err != nil {
			continue
		}
		for _, rq := range quotas {
			c.queue.Add(rq.Namespace + "/" + rq.Name)
		}
	}
}

// sync writes the quota's status: hard from spec, used measured now.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	rq, err := c.quotas.ResourceQuotas(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	used, err := c.usage(ctx, rq)
	if err != nil {
		return err
	}
	if equalLists(rq.Status.Hard, rq.Spec.Hard) && equalLists(rq.Status.Used, used) {
		return nil
	}
	rq = rq.DeepCopy()
	rq.Status.Hard = rq.Spec.Hard.DeepCopy()
	rq.Status.Used = used
	_, err = c.client.CoreV1().ResourceQuotas(ns).UpdateStatus(ctx, rq, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// usage measures, for each resource of the quota's spec.hard, what the
// namespace's objects use (zero for what nothing uses).
func (c *Controller) usage(ctx context.Context, rq *corev1.ResourceQuota) (corev1.ResourceList, error) {
	ns := rq.Namespace
	total := corev1.ResourceList{}
	add := func(l corev1.ResourceList) {
		for r, q := range l {
			if _, ok := rq.Spec.Hard[r]; !ok {
				continue
			}
			t := total[r]
			t.Add(q)
			total[r] = t
		}
	}
	scoped := len(scopeRequirements(rq)) > 0
	want := func(f func(corev1.ResourceName) bool) bool {
		for r := range rq.Spec.Hard {
			if f(r) {
				return true
			}
		}
		return false
	}
	if want(isPodResource) {
		pods, err := c.pods.Pods(ns).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, p := range pods {
			if !scoped || podMatchesScopes(p, rq) {
				add(podUsage(p, c.now()))
			}
		}
	}
	// Scopes apply to pods only.
	if !scoped {
		if want(func(r corev1.ResourceName) bool {
			return strings.HasPrefix(string(r), "services") || r == countName("services")
		}) {
			svcs, err := c.svcs.Services(ns).List(labels.Everything())
			if err != nil {
				return nil, err
			}
			for _, s := range svcs {
				add(serviceUsage(s))
			}
		}
		if want(isClaimResource) {
			pvcs, err := c.pvcs.PersistentVolumeClaims(ns).List(labels.Everything())
			if err != nil {
				return nil, err
			}
			for _, p := range pvcs {
				add(claimUsage(p))
			}
		}
		if want(isResourceClaimResource) {
			claims, err := c.claims.ResourceClaims(ns).List(labels.Everything())
			if err != nil {
				return nil, err
			}
			for _, rc := range claims {
				u, err := resourceClaimEvaluator.Usage(rc)
				if err != nil {
					return nil, err
				}
				add(u)
			}
		}
		if err := c.countOthers(ctx, rq, add); err != nil {
			return nil, err
		}
	}
	used := corev1.ResourceList{}
	for r := range rq.Spec.Hard {
		q, ok := total[r]
		if !ok {
			q = *resource.NewQuantity(0, resource.DecimalSI)
		}
		used[r] = q
	}
	return used, nil
}

// countOthers counts configmaps, secrets, resourcequotas and the
// resources of count/<resource>.<group>.
func (c *Controller) countOthers(ctx context.Context, rq *corev1.ResourceQuota, add func(corev1.ResourceList)) error {
	ns := rq.Namespace
	for r := range rq.Spec.Hard {
		var gr schema.GroupResource
		switch {
		case r == corev1.ResourceConfigMaps || r == corev1.ResourceSecrets || r == corev1.ResourceQuotas || r == corev1.ResourceReplicationControllers:
			gr = schema.GroupResource{Resource: string(r)}
		case strings.HasPrefix(string(r), "count/"):
			gr = schema.ParseGroupResource(strings.TrimPrefix(string(r), "count/"))
			if gr.Group == "" && (gr.Resource == "pods" || gr.Resource == "services" || gr.Resource == "persistentvolumeclaims") ||
				gr == resourceClaimEvaluator.GroupResource() {
				continue
			}
		default:
			continue
		}
		n, err := c.count(ctx, ns, gr)
		if err != nil {
			return fmt.Errorf("counting %s in %s: %w", gr, ns, err)
		}
		add(corev1.ResourceList{r: *resource.NewQuantity(n, resource.DecimalSI)})
	}
	return nil
}

func (c *Controller) count(ctx context.Context, ns string, gr schema.GroupResource) (int64, error) {
	var n int
	var err error
	switch gr {
	case schema.GroupResource{Resource: "configmaps"}:
		var l []*corev1.ConfigMap
		l, err = c.cms.ConfigMaps(ns).List(labels.Everything())
		n = len(l)
	case schema.GroupResource{Resource: "secrets"}:
		var l []*corev1.Secret
		l, err = c.secrets.Secrets(ns).List(labels.Everything())
		n = len(l)
	case schema.GroupResource{Resource: "resourcequotas"}:
		var l []*corev1.ResourceQuota
		l, err = c.quotas.ResourceQuotas(ns).List(labels.Everything())
		n = len(l)
	default:
		if c.counter == nil {
			return 0, nil
		}
		return c.counter.Count(ctx, ns, gr)
	}
	return int64(n), err
}

func isPodResource(r corev1.ResourceName) bool {
	s := string(r)
	switch r {
	case corev1.ResourcePods, corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, countName("pods"):
		return true
	}
	return strings.HasPrefix(s, "requests.") && r != corev1.ResourceRequestsStorage || strings.HasPrefix(s, "limits.") || strings.HasPrefix(s, corev1.ResourceHugePagesPrefix)
}

// resourceClaimEvaluator measures DRA ResourceClaims as the apiserver's
// quota admission does: upstream's evaluator (the claim's count and the
// devices it asks of each DeviceClass).
var resourceClaimEvaluator = quotacore.NewResourceClaimEvaluator(nil, nil, nil, nil)

func isResourceClaimResource(r corev1.ResourceName) bool {
	return r == quotacore.ClaimObjectCountName || strings.HasSuffix(string(r), corev1.ResourceClaimsPerClass) ||
		strings.HasPrefix(string(r), corev1.ResourceImplicitExtendedClaimsPerClass)
}

func isClaimResource(r corev1.ResourceName) bool {
	return r == corev1.ResourcePersistentVolumeClaims || r == corev1.ResourceRequestsStorage || r == countName("persistentvolumeclaims") ||
		strings.Contains(string(r), ".storageclass.storage.k8s.io/")
}

// equalLists compares quantities by value.
func equalLists(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for r, q := range a {
		o, ok := b[r]
		if !ok || q.Cmp(o) != 0 {
			return false
		}
	}
	return true
}
