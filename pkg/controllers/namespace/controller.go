package namespace

import (
	"context"
	"errors"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/namespace/deletion"

	"minik8s/pkg/controllers/reconcile"
)

// RecheckInterval is the longest a namespace that still holds objects waits
// before it is looked at again. Upstream waits half its estimate (the
// longest grace period of the pods left, 15 s for objects held by
// finalizers) plus a second; minik8s's agents remove a pod as soon as its
// containers stop, so a shorter recheck ends most deletions sooner.
const RecheckInterval = 2 * time.Second

// Controller is the namespace controller.
type Controller struct {
	client   kubernetes.Interface
	md       metadata.Interface
	nsLister corelisters.NamespaceLister
	synced   cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	// discover lists the namespaced resources to empty: the preferred
	// version of each, as kube-controller-manager's discovery does.
	discover func() ([]*metav1.APIResourceList, error)
	// deleter is upstream's namespaced-resources deleter, made once the
	// caches have synced (it reads discovery when made).
	deleter deletion.NamespacedResourcesDeleterInterface
}

// New wires the controller to the factory's Namespace informer; md lists and
// deletes the namespace's objects of every resource by their metadata only.
func New(client kubernetes.Interface, md metadata.Interface, factory informers.SharedInformerFactory) *Controller {
	inf := factory.Core().V1().Namespaces()
	c := &Controller{
		client:   client,
		md:       md,
		nsLister: inf.Lister(),
		synced:   inf.Informer().HasSynced,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(rateLimiter(),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		discover: client.Discovery().ServerPreferredNamespacedResources,
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

// rateLimiter is upstream's for namespaces: a namespace whose deletion
// fails (an object that should be gone is still listed) is retried at
// least once a minute, where the default limiter backs off to 1000 s.
func rateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 60*time.Second),
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "namespace", c.queue, workers, []cache.InformerSynced{c.synced}, c.sync,
		reconcile.OnSynced(c.start))
}

// start makes the deleter. Upstream's deleter reads discovery when it is
// made and exits the process if discovery names no resource at all, so it
// is made only once discovery answers.
func (c *Controller) start(ctx context.Context) error {
	logged := false
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(context.Context) (bool, error) {
		lists, err := c.discover()
		if len(lists) > 0 {
			return true, nil
		}
		if !logged {
			if err == nil {
				err = errors.New("no namespaced resources")
			}
			klog.FromContext(ctx).Info("namespace: waiting for discovery", "err", err)
			logged = true
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	c.deleter = deletion.NewNamespacedResourcesDeleter(ctx, c.client.CoreV1().Namespaces(), c.md,
		c.client.CoreV1(), c.discover, corev1.FinalizerKubernetes)
	return nil
}

// sync empties a terminating namespace with upstream's deleter: pods first,
// then (once no pod is left) every other namespaced resource, writing the
// namespace's deletion conditions as it goes, and at last removing the
// kubernetes finalizer so the apiserver can remove the namespace.
func (c *Controller) sync(ctx context.Context, name string) (reconcile.Result, error) {
	ns, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if ns.DeletionTimestamp == nil {
		return reconcile.Result{}, nil
	}
	err = c.deleter.Delete(ctx, name)
	var remaining *deletion.ResourcesRemainingError
	if errors.As(err, &remaining) {
		upstream := time.Duration(remaining.Estimate/2+1) * time.Second
		return reconcile.After(min(upstream, RecheckInterval)), nil
	}
	return reconcile.Result{}, err
}
