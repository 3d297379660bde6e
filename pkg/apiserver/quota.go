package apiserver

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	"k8s.io/apiserver/pkg/endpoints/request"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/kubernetes/pkg/quota/v1/evaluator/core"
	"k8s.io/utils/clock"
)

// resourceQuota is Kubernetes' ResourceQuota admission, the last step of
// the chain, after validation: a create in a namespace with quotas is
// measured by upstream's evaluators (pods, services, persistent volume
// claims, DRA resource claims; any other
// resource counts as count/<resource>.<group>) and checked with upstream's
// CheckRequest, which refuses it with 403 when it would exceed a quota's
// hard limits, when a quota tracks a compute resource a container does not
// set, or when its status has no usage for a limited resource (a quota
// whose status.hard the controller has not yet written limits nothing,
// as upstream). An
// admitted create charges its usage to status.used with a write that
// fails on a newer resourceVersion, so two concurrent creates cannot both
// take the last unit; requests of one namespace are checked one at a time
// as upstream's evaluator queue does. Unlike upstream, a refusal is
// checked again against the quotas read from the store, so that a unit
// the controller has just freed is not refused while the informer lags.
// The usage of a create that then
// fails stays charged until the resourcequota controller recalculates,
// as upstream.
type resourceQuota struct {
	quotas corev1listers.ResourceQuotaLister
	client corev1client.ResourceQuotasGetter

	mu       sync.Mutex
	registry quota.Registry
	nsLocks  map[string]*sync.Mutex
	ignored  map[schema.GroupResource]bool
}

// quotaRetries is how many times a charge is retried on conflict, as
// upstream's evaluator does (numRetries).
const quotaRetries = 3

// legacyCountAliases: the object counts that have a name of their own.
var legacyCountAliases = map[schema.GroupResource]corev1.ResourceName{
	{Resource: "configmaps"}:             corev1.ResourceConfigMaps,
	{Resource: "resourcequotas"}:         corev1.ResourceQuotas,
	{Resource: "replicationcontrollers"}: corev1.ResourceReplicationControllers,
	{Resource: "secrets"}:                corev1.ResourceSecrets,
}

func newResourceQuota(quotas corev1listers.ResourceQuotaLister, client corev1client.ResourceQuotasGetter) *resourceQuota {
	q := &resourceQuota{
		quotas: quotas, client: client,
		registry: generic.NewRegistry([]quota.Evaluator{
			core.NewPodEvaluator(nil, clock.RealClock{}),
			core.NewServiceEvaluator(nil),
			core.NewPersistentVolumeClaimEvaluator(nil),
			// DRA's ResourceClaims: count/resourceclaims.resource.k8s.io
			// and the devices asked of each DeviceClass
			// (<class>.deviceclass.resource.k8s.io/devices, and
			// requests.deviceclass.resource.kubernetes.io/<class>); no
			// device class to extended resource mapping, which only
			// matters to the claims the scheduler makes for extended
			// resources.
			core.NewResourceClaimEvaluator(nil, nil, nil, nil),
		}),
		nsLocks: map[string]*sync.Mutex{},
		// Upstream's DefaultIgnoredResources, plus what has no namespace.
		ignored: map[schema.GroupResource]bool{
			{Resource: "bindings"}: true, {Resource: "events"}: true, {Group: "events.k8s.io", Resource: "events"}: true,
			{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: true,
		},
	}
	return q
}

// handles every namespaced resource; createValidate returns early where
// the namespace has no quota.
func (q *resourceQuota) handles(gr schema.GroupResource) bool { return !q.ignored[gr] }

func (q *resourceQuota) evaluatorFor(gr schema.GroupResource) quota.Evaluator {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.registry.Get(gr); e != nil {
		return e
	}
	e := generic.NewObjectCountEvaluator(gr, nil, legacyCountAliases[gr])
	q.registry.Add(e)
	return e
}

func (q *resourceQuota) nsLock(ns string) *sync.Mutex {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.nsLocks[ns]
	if l == nil {
		l = &sync.Mutex{}
		q.nsLocks[ns] = l
	}
	return l
}

// validateCreate checks obj against its namespace's quotas and charges it.
func (q *resourceQuota) validateCreate(k *call, obj runtime.Object) error {
	return q.check(k, obj, nil, admission.Create, &metav1.CreateOptions{})
}

// admitUpdate checks an update against the quotas, charging what it adds
// (upstream's evaluators handle updates of services, claims and pods
// whose terminating scope changes; counts only on create). It runs with
// the update admission, before validation: an update retried on conflict
// may be charged twice, until the controller recalculates.
func (q *resourceQuota) admitUpdate(k *call, obj, cur runtime.Object) error {
	return q.check(k, obj, cur, admission.Update, &metav1.UpdateOptions{})
}

// check builds the admission attributes of a write of obj (old: the
// stored object of an update) and admits them against the namespace's
// quotas, if it has any.
func (q *resourceQuota) check(k *call, obj, old runtime.Object, op admission.Operation, opts runtime.Object) error {
	if !k.r.Namespaced {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	cached, err := q.quotas.ResourceQuotas(m.GetNamespace()).List(labels.Everything())
	if err != nil || len(cached) == 0 {
		return err
	}
	u, _ := request.UserFrom(k.ctx())
	attrs := admission.NewAttributesRecord(obj, old, k.r.GroupVersionKind(), m.GetNamespace(), m.GetName(),
		k.r.GroupVersionResource(), "", op, opts, k.dryRun(), u)
	return q.admit(k.ctx(), attrs, cached)
}

// admit checks attrs against quotas and writes the charged usage,
// reading the quotas again from the API when a write conflicts.
func (q *resourceQuota) admit(ctx context.Context, attrs admission.Attributes, cached []*corev1.ResourceQuota) error {
	evaluator := q.evaluatorFor(attrs.GetResource().GroupResource())
	if !evaluator.Handles(attrs) {
		return nil
	}
	l := q.nsLock(attrs.GetNamespace())
	l.Lock()
	defer l.Unlock()
	quotas := make([]corev1.ResourceQuota, len(cached))
	for i, rq := range cached {
		quotas[i] = *rq.DeepCopy()
	}
	live := false
	for attempt := 0; ; attempt++ {
		charged, err := resourcequota.CheckRequest(quotas, attrs, evaluator, nil)
		if err != nil && !live {
			// The informer may not show yet what the controller freed:
			// a refusal is checked again against the quotas as stored.
			list, lerr := q.client.ResourceQuotas(attrs.GetNamespace()).List(ctx, metav1.ListOptions{})
			if lerr != nil {
				return err
			}
			quotas, live = list.Items, true
			if charged, err = resourcequota.CheckRequest(quotas, attrs, evaluator, nil); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		if attrs.IsDryRun() {
			return nil
		}
		failed, err := q.charge(ctx, quotas, charged)
		if err == nil && len(failed) == 0 {
			return nil
		}
		if attempt >= quotaRetries {
			if err == nil {
				err = fmt.Errorf("the quotas of namespace %s kept changing", attrs.GetNamespace())
			}
			return apierrors.NewInternalError(fmt.Errorf("charging resource quota: %w", err))
		}
		list, lerr := q.client.ResourceQuotas(attrs.GetNamespace()).List(ctx, metav1.ListOptions{})
		if lerr != nil {
			return apierrors.NewInternalError(fmt.Errorf("reading resource quotas: %w", lerr))
		}
		// Only the quotas whose write failed are checked again, as
		// upstream does: the others hold the charge already.
		quotas, live = quotas[:0], true
		for _, rq := range list.Items {
			if failed[rq.Name] {
				quotas = append(quotas, rq)
			}
		}
	}
}

// charge writes the quotas whose used changed and returns the names of
// those written meanwhile by someone else.
func (q *resourceQuota) charge(ctx context.Context, before, after []corev1.ResourceQuota) (failed map[string]bool, err error) {
	for i := range after {
		if quota.Equals(before[i].Status.Used, after[i].Status.Used) {
			continue
		}
		rq := after[i]
		if _, err := q.client.ResourceQuotas(rq.Namespace).UpdateStatus(ctx, &rq, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsConflict(err) {
				return nil, err
			}
			if failed == nil {
				failed = map[string]bool{}
			}
			failed[rq.Name] = true
		}
	}
	return failed, nil
}
