package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

const (
	// Name is the controller's name in kube-controller-manager.
	Name = "serviceaccount-controller"
	// Default is the name of the ServiceAccount every namespace gets.
	Default = "default"
)

// Controller is the ServiceAccount controller.
type Controller struct {
	client   kubernetes.Interface
	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New wires the controller to the factory's Namespace and ServiceAccount
// informers. The queue's keys are namespace names.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory) *Controller {
	nsInf := factory.Core().V1().Namespaces()
	saInf := factory.Core().V1().ServiceAccounts()
	c := &Controller{
		client:   client,
		nsLister: nsInf.Lister(),
		saLister: saInf.Lister(),
		synced:   []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced},
		queue:    reconcile.NewQueue("serviceaccount"),
	}
	nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.namespaceChanged,
		UpdateFunc: func(_, cur any) { c.namespaceChanged(cur) },
	})
	saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: c.serviceAccountDeleted})
	return c
}

func (c *Controller) namespaceChanged(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok {
		c.queue.Add(ns.Name)
	}
}

// serviceAccountDeleted queues the namespace of a deleted default account,
// which brings it back.
func (c *Controller) serviceAccountDeleted(obj any) {
	if sa, ok := reconcile.Object[*corev1.ServiceAccount](obj); ok && sa.Name == Default {
		c.queue.Add(sa.Namespace)
	}
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, Name, c.queue, workers, c.synced, reconcile.Plain(c.sync))
}

// sync creates the namespace's default ServiceAccount if the cache does not
// hold it.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.nsLister.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	switch _, err := c.saLister.ServiceAccounts(namespace).Get(Default); {
	case err == nil:
		return nil
	case !apierrors.IsNotFound(err):
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Default, Namespace: namespace}}
	_, err = c.client.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		// AlreadyExists: the cache was behind; the account is there.
		return nil
	case apierrors.IsNotFound(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// The namespace went away or began terminating since the cache saw it.
		return nil
	}
	return err
}
