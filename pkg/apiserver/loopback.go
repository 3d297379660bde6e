package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	policyv1client "k8s.io/client-go/kubernetes/typed/policy/v1"
	rbacv1client "k8s.io/client-go/kubernetes/typed/rbac/v1"
	schedulingv1client "k8s.io/client-go/kubernetes/typed/scheduling/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
)

// loopback is a client of the server's own API, for the parts that read
// or write other objects as kube-apiserver's loopback client does
// (admission's informers, evictions' PodDisruptionBudgets, the Node
// authorizer's graph). The group clients are the clientset's; upstream's
// Node authorizer and NodeRestriction take client-go's informer factory,
// so informers of the same kind come from it too, never a second watch.
type loopback struct {
	// clientset is for upstream's controllers that take one (the service
	// allocators' repair loops).
	clientset  kubernetes.Interface
	core       corev1client.CoreV1Interface
	policy     policyv1client.PolicyV1Interface
	scheduling schedulingv1client.SchedulingV1Interface
	rbac       rbacv1client.RbacV1Interface
	// dyn serves the custom resource definitions' controllers.
	dyn dynamic.Interface
	// factory holds the informers of the node authorizer's graph and of
	// NodeRestriction (pods, nodes, PVs, …); only the informers asked
	// for are started. system holds kube-system's Secrets, for the
	// bootstrap token authenticator.
	factory informers.SharedInformerFactory
	system  informers.SharedInformerFactory

	limitRanges     cache.SharedIndexInformer
	priorityClasses cache.SharedIndexInformer
	resourceQuotas  cache.SharedIndexInformer

	// The RBAC authorizer's policy; started apart from the others
	// (startRBAC), once the bootstrap policy is reconciled.
	roles, roleBindings, clusterRoles, clusterRoleBindings cache.SharedIndexInformer
}

func newLoopback(cfg *rest.Config) (*loopback, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("loopback client: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("loopback client: %w", err)
	}
	core, scheduling, rbac := cs.CoreV1(), cs.SchedulingV1(), cs.RbacV1()
	l := &loopback{clientset: cs, core: core, policy: cs.PolicyV1(), scheduling: scheduling, rbac: rbac, dyn: dyn,
		factory: informers.NewSharedInformerFactory(cs, 0),
		system:  informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(metav1.NamespaceSystem)),
	}
	l.limitRanges = cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return core.LimitRanges(metav1.NamespaceAll).List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return core.LimitRanges(metav1.NamespaceAll).Watch(ctx, opts)
		},
	}, &corev1.LimitRange{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	l.resourceQuotas = cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return core.ResourceQuotas(metav1.NamespaceAll).List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return core.ResourceQuotas(metav1.NamespaceAll).Watch(ctx, opts)
		},
	}, &corev1.ResourceQuota{}, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	l.priorityClasses = cache.NewSharedIndexInformer(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return scheduling.PriorityClasses().List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return scheduling.PriorityClasses().Watch(ctx, opts)
		},
	}, &schedulingv1.PriorityClass{}, 0, cache.Indexers{})
	l.roles = informer(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return rbac.Roles(metav1.NamespaceAll).List(ctx, opts)
	}, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return rbac.Roles(metav1.NamespaceAll).Watch(ctx, opts)
	}, &rbacv1.Role{}, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	l.roleBindings = informer(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return rbac.RoleBindings(metav1.NamespaceAll).List(ctx, opts)
	}, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return rbac.RoleBindings(metav1.NamespaceAll).Watch(ctx, opts)
	}, &rbacv1.RoleBinding{}, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	l.clusterRoles = informer(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return rbac.ClusterRoles().List(ctx, opts)
	}, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return rbac.ClusterRoles().Watch(ctx, opts)
	}, &rbacv1.ClusterRole{}, cache.Indexers{})
	l.clusterRoleBindings = informer(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return rbac.ClusterRoleBindings().List(ctx, opts)
	}, func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		return rbac.ClusterRoleBindings().Watch(ctx, opts)
	}, &rbacv1.ClusterRoleBinding{}, cache.Indexers{})
	return l, nil
}

func informer(list func(context.Context, metav1.ListOptions) (runtime.Object, error), watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error), obj runtime.Object, idx cache.Indexers) cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(&cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: watchFn}, obj, 0, idx)
}

// startRBAC runs the RBAC informers until ctx ends and waits (at most
// until waitCtx ends) for their first listing.
func (l *loopback) startRBAC(ctx, waitCtx context.Context) bool {
	infs := []cache.SharedIndexInformer{l.roles, l.roleBindings, l.clusterRoles, l.clusterRoleBindings}
	var synced []cache.InformerSynced
	for _, inf := range infs {
		go inf.RunWithContext(ctx)
		synced = append(synced, inf.HasSynced)
	}
	// Polled finer than cache.WaitForCacheSync's 100 ms: the start waits on it.
	err := wait.PollUntilContextCancel(waitCtx, 2*time.Millisecond, true, func(context.Context) (bool, error) {
		for _, s := range synced {
			if !s() {
				return false, nil
			}
		}
		return true, nil
	})
	return err == nil
}

// start runs the informers until ctx ends.
func (l *loopback) start(ctx context.Context) {
	go l.limitRanges.RunWithContext(ctx)
	go l.priorityClasses.RunWithContext(ctx)
	go l.resourceQuotas.RunWithContext(ctx)
	l.factory.Start(ctx.Done())
	l.system.Start(ctx.Done())
}

// bootstrapSecrets lists kube-system's Secrets, where bootstrap tokens
// are.
func (l *loopback) bootstrapSecrets() corev1listers.SecretNamespaceLister {
	return l.system.Core().V1().Secrets().Lister().Secrets(metav1.NamespaceSystem)
}

// serviceAccountLister is the factory's, which NodeRestriction watches
// with too.
func (l *loopback) serviceAccountLister() corev1listers.ServiceAccountLister {
	return l.factory.Core().V1().ServiceAccounts().Lister()
}

func (l *loopback) resourceQuotaLister() corev1listers.ResourceQuotaLister {
	return corev1listers.NewResourceQuotaLister(l.resourceQuotas.GetIndexer())
}

func (l *loopback) limitRangeLister() corev1listers.LimitRangeLister {
	return corev1listers.NewLimitRangeLister(l.limitRanges.GetIndexer())
}

// rbacAuthorizer is upstream's RBAC authorizer on the informers' caches.
// The bindings are listed from snapshots (bindingLists).
func (l *loopback) rbacAuthorizer() (*rbac.RBACAuthorizer, error) {
	bindings, err := newBindingLists(l.roleBindings, l.clusterRoleBindings)
	if err != nil {
		return nil, err
	}
	return rbac.New(
		&rbac.RoleGetter{Lister: rbaclisters.NewRoleLister(l.roles.GetIndexer())},
		bindings,
		&rbac.ClusterRoleGetter{Lister: rbaclisters.NewClusterRoleLister(l.clusterRoles.GetIndexer())},
		bindings,
	), nil
}

func (l *loopback) priorityClassLister() schedulinglisters.PriorityClassLister {
	return schedulinglisters.NewPriorityClassLister(l.priorityClasses.GetIndexer())
}
