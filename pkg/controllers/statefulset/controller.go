package statefulset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/reconcile"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller is the StatefulSet controller.
type Controller struct {
	client    kubernetes.Interface
	setLister appslisters.StatefulSetLister
	podLister corelisters.PodLister
	pvcLister corelisters.PersistentVolumeClaimLister
	revLister appslisters.ControllerRevisionLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	clock     clock.Clock
	consist   *consistency
}

// New wires the controller to the factory's StatefulSet, Pod,
// PersistentVolumeClaim and ControllerRevision informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	return NewWithClock(client, factory, recorder, clock.RealClock{})
}

// NewWithClock is New with an injected clock (minReadySeconds).
func NewWithClock(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.Clock) *Controller {
	setInf := factory.Apps().V1().StatefulSets()
	podInf := factory.Core().V1().Pods()
	pvcInf := factory.Core().V1().PersistentVolumeClaims()
	revInf := factory.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:    client,
		setLister: setInf.Lister(),
		podLister: podInf.Lister(),
		pvcLister: pvcInf.Lister(),
		revLister: revInf.Lister(),
		synced: []cache.InformerSynced{setInf.Informer().HasSynced, podInf.Informer().HasSynced,
			pvcInf.Informer().HasSynced, revInf.Informer().HasSynced},
		queue:    reconcile.NewQueue("statefulset"),
		recorder: recorder,
		clock:    clk,
		consist: newConsistency(map[resource]cache.Store{
			podResource: podInf.Informer().GetStore(),
			pvcResource: pvcInf.Informer().GetStore(),
			setResource: setInf.Informer().GetStore(),
		}),
	}
	setInf.Informer().AddEventHandler(reconcile.EnqueueHandler(c.queue))
	podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podDeleted,
	})
	return c
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "statefulset", c.queue, workers, c.synced, c.sync, reconcile.Quiet(quiet))
}

// quiet errors only mean the cache was behind our own writes.
func quiet(err error) bool {
	var stale *staleCacheError
	return errors.As(err, &stale) || apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

func (c *Controller) wrote(set *appsv1.StatefulSet, r resource, rv string) {
	c.consist.wroteAt(types.NamespacedName{Namespace: set.Namespace, Name: set.Name}, set.UID, r, rv)
}

// resolveControllerRef returns the StatefulSet a controller reference names,
// if it is in the cache with the same UID.
func (c *Controller) resolveControllerRef(ns string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref == nil || ref.Kind != controllerKind.Kind {
		return nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(ref.Name)
	if err != nil || set.UID != ref.UID {
		return nil
	}
	return set
}

func (c *Controller) setsForPod(pod *corev1.Pod) []*appsv1.StatefulSet {
	sets, err := c.setLister.GetPodStatefulSets(pod)
	if err != nil {
		return nil
	}
	return sets
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.podDeleted(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			reconcile.Enqueue(c.queue, set)
		}
		return
	}
	for _, set := range c.setsForPod(pod) {
		reconcile.Enqueue(c.queue, set)
	}
}

func (c *Controller) podUpdated(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cur), metav1.GetControllerOf(old)
	refChanged := !equality.Semantic.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if set := c.resolveControllerRef(old.Namespace, oldRef); set != nil {
			reconcile.Enqueue(c.queue, set)
		}
	}
	if curRef != nil {
		set := c.resolveControllerRef(cur.Namespace, curRef)
		if set == nil {
			return
		}
		reconcile.Enqueue(c.queue, set)
		// A pod that just became ready becomes available minReadySeconds
		// later; nothing else would wake us then.
		if !podReady(old) && podReady(cur) && set.Spec.MinReadySeconds > 0 {
			key, _ := cache.MetaNamespaceKeyFunc(set)
			c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
		}
		return
	}
	if refChanged || !equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		for _, set := range c.setsForPod(cur) {
			reconcile.Enqueue(c.queue, set)
		}
	}
}

func (c *Controller) podDeleted(obj any) {
	pod, ok := reconcile.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	if set := c.resolveControllerRef(pod.Namespace, metav1.GetControllerOf(pod)); set != nil {
		reconcile.Enqueue(c.queue, set)
	}
}

// sync reconciles one StatefulSet from the cache.
func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return reconcile.Result{}, nil
	}
	owner := types.NamespacedName{Namespace: ns, Name: name}
	if err := c.consist.ensureReady(owner); err != nil {
		return reconcile.Result{}, err
	}
	cached, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.consist.clear(owner)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	selector, err := metav1.LabelSelectorAsSelector(cached.Spec.Selector)
	if err != nil {
		// Validation makes this unreachable through the API; retrying
		// would not help.
		c.recorder.Eventf(cached, corev1.EventTypeWarning, "InvalidSelector", "invalid selector: %v", err)
		return reconcile.Result{}, nil
	}
	set := withDefaults(cached)
	if err := c.adoptOrphanRevisions(ctx, set, selector); err != nil {
		return reconcile.Result{}, err
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return reconcile.Result{}, err
	}
	status, err := c.update(ctx, set, pods)
	if err != nil {
		return reconcile.Result{}, err
	}
	// Availability after minReadySeconds is a change no event announces.
	if set.Spec.MinReadySeconds > 0 && status != nil && status.AvailableReplicas != *set.Spec.Replicas {
		return reconcile.After(time.Duration(set.Spec.MinReadySeconds) * time.Second), nil
	}
	return reconcile.Result{}, nil
}

// withDefaults is a copy of set with the API's defaults filled in where a
// client (or a fake) left them out.
func withDefaults(cached *appsv1.StatefulSet) *appsv1.StatefulSet {
	set := cached.DeepCopy()
	s := &set.Spec
	if s.Replicas == nil {
		s.Replicas = ptr(int32(1))
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(int32(10))
	}
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if s.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		if s.UpdateStrategy.RollingUpdate.Partition == nil {
			s.UpdateStrategy.RollingUpdate.Partition = ptr(int32(0))
		}
	}
	return set
}

func ptr[T any](v T) *T { return &v }

// adoptOrphanRevisions takes the revisions the selector matches that nobody
// controls, after checking with the API that set is still the same object.
func (c *Controller) adoptOrphanRevisions(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) error {
	revs, err := c.listRevisions(set, sel)
	if err != nil {
		return err
	}
	var orphans []*appsv1.ControllerRevision
	for _, r := range revs {
		if metav1.GetControllerOfNoCopy(r) == nil {
			orphans = append(orphans, r)
		}
	}
	if len(orphans) == 0 {
		return nil
	}
	if ok, err := c.stillAlive(ctx, set); err != nil || !ok {
		return err
	}
	for _, r := range orphans {
		if err := c.adoptRevision(ctx, set, r); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("adopting controllerrevision %s: %w", r.Name, err)
		}
	}
	return nil
}

// stillAlive re-reads set from the API before adopting: a StatefulSet that
// was deleted (or recreated under the same name) must not take objects.
func (c *Controller) stillAlive(ctx context.Context, set *appsv1.StatefulSet) (bool, error) {
	fresh, err := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fresh.UID == set.UID && fresh.DeletionTimestamp == nil, nil
}

// claimPods returns the pods set owns after adopting orphans that match its
// selector and carry its name, and releasing owned pods that stopped
// matching.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var (
		claimed  []*corev1.Pod
		errs     []error
		canAdopt *bool
	)
	for _, pod := range all {
		ref := metav1.GetControllerOf(pod)
		matches := !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) && isMemberOf(set, pod)
		if ref != nil {
			if ref.UID != set.UID {
				continue
			}
			if matches {
				claimed = append(claimed, pod)
				continue
			}
			if set.DeletionTimestamp != nil {
				continue
			}
			if err := c.patchPodOwner(ctx, pod, map[string]any{"$patch": "delete", "uid": set.UID}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		if !matches || set.DeletionTimestamp != nil || pod.DeletionTimestamp != nil {
			continue
		}
		if canAdopt == nil {
			ok, err := c.stillAlive(ctx, set)
			if err != nil {
				return nil, err
			}
			canAdopt = &ok
		}
		if !*canAdopt {
			continue
		}
		if err := c.patchPodOwner(ctx, pod, *metav1.NewControllerRef(set, controllerKind)); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		claimed = append(claimed, pod)
	}
	return claimed, errors.Join(errs...)
}

func (c *Controller) patchPodOwner(ctx context.Context, pod *corev1.Pod, ref any) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": []any{ref},
		"uid":             pod.UID,
	}})
	_, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}
