package namespace

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

// RecheckInterval is how soon a namespace that still holds objects is
// looked at again (pods may take their grace period to go).
const RecheckInterval = 2 * time.Second

// Controller is the namespace controller.
type Controller struct {
	client    kubernetes.Interface
	discovery discovery.DiscoveryInterface
	dyn       dynamic.Interface
	nsLister  corelisters.NamespaceLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
}

// New wires the controller to the factory's Namespace informer.
func New(client kubernetes.Interface, dyn dynamic.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	inf := factory.Core().V1().Namespaces()
	c := &Controller{
		client:    client,
		discovery: client.Discovery(),
		dyn:       dyn,
		nsLister:  inf.Lister(),
		synced:    inf.Informer().HasSynced,
		queue:     reconcile.NewQueue("namespace"),
		recorder:  recorder,
	}
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	})
	return c
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "namespace", c.queue, workers, []cache.InformerSynced{c.synced}, func(ctx context.Context, key string) (reconcile.Result, error) {
		remaining, err := c.sync(ctx, key)
		if err != nil || remaining == 0 {
			return reconcile.Result{}, err
		}
		return reconcile.After(RecheckInterval), nil
	})
}

// sync deletes what the namespace still holds and returns how many objects
// are left; with none left it finalizes the namespace.
func (c *Controller) sync(ctx context.Context, name string) (int, error) {
	ns, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if ns.DeletionTimestamp == nil {
		return 0, nil
	}
	if ns.Status.Phase != corev1.NamespaceTerminating {
		// The apiserver sets it; we only write it when it did not.
		cp := ns.DeepCopy()
		cp.Status.Phase = corev1.NamespaceTerminating
		if _, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return 0, err
		}
	}
	resources, err := c.namespacedResources()
	if err != nil {
		return 0, err
	}
	remaining := 0
	var errs []error
	for _, gvr := range resources {
		n, err := c.deleteAll(ctx, gvr, name)
		remaining += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return remaining, err
	}
	if remaining > 0 {
		return remaining, nil
	}
	return 0, c.finalize(ctx, name)
}

// namespacedResources lists, from discovery, every namespaced resource that
// can be listed and deleted (one version per group/resource).
func (c *Controller) namespacedResources() ([]schema.GroupVersionResource, error) {
	_, lists, err := c.discovery.ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discovering namespaced resources: %w", err)
	}
	var out []schema.GroupVersionResource
	seen := sets.New[string]()
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			verbs := sets.New[string](r.Verbs...)
			if !r.Namespaced || !verbs.Has("list") || !verbs.Has("delete") || containsSlash(r.Name) {
				continue
			}
			key := gv.Group + "/" + r.Name
			if seen.Has(key) {
				continue
			}
			seen.Insert(key)
			out = append(out, gv.WithResource(r.Name))
		}
	}
	return out, nil
}

func containsSlash(s string) bool {
	for _, r := range s {
		if r == '/' {
			return true
		}
	}
	return false
}

// deleteAll deletes each object of one resource in the namespace and
// returns how many were still there.
func (c *Controller) deleteAll(ctx context.Context, gvr schema.GroupVersionResource, ns string) (int, error) {
	cl := c.dyn.Resource(gvr).Namespace(ns)
	list, err := cl.List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("listing %s in %s: %w", gvr.Resource, ns, err)
	}
	var errs []error
	bg := metav1.DeletePropagationBackground
	for _, item := range list.Items {
		if item.GetDeletionTimestamp() != nil {
			continue
		}
		err := cl.Delete(ctx, item.GetName(), metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s/%s: %w", gvr.Resource, ns, item.GetName(), err))
		}
	}
	return len(list.Items), errors.Join(errs...)
}

func (c *Controller) finalize(ctx context.Context, name string) error {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(ns.Spec.Finalizers) == 0 {
		return nil
	}
	ns.Spec.Finalizers = nil
	_, err = c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
