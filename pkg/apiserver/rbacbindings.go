package apiserver

import (
	"context"
	"sync"
	"sync/atomic"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/cache"
)

// bindingLists serves the RBAC authorizer's lists of bindings from a
// snapshot of the informers' stores, remade after they change: every
// decision lists the ClusterRoleBindings and the namespace's
// RoleBindings, and client-go's listers copy them out of the store each
// time (with 1,000 bindings in a namespace, most of a decision's time
// and garbage). The lists handed out are shared: read only.
type bindingLists struct {
	roleBindings, clusterRoleBindings cache.SharedIndexInformer
	// gen counts the informers' events; a snapshot of an older
	// generation is remade on the next read.
	gen  atomic.Uint64
	mu   sync.Mutex
	snap atomic.Pointer[bindingSnapshot]
}

type bindingSnapshot struct {
	gen     uint64
	byNS    map[string][]*rbacv1.RoleBinding
	cluster []*rbacv1.ClusterRoleBinding
}

func newBindingLists(roleBindings, clusterRoleBindings cache.SharedIndexInformer) (*bindingLists, error) {
	b := &bindingLists{roleBindings: roleBindings, clusterRoleBindings: clusterRoleBindings}
	// Handlers run after the store has the change, so a snapshot made
	// after the bump holds it.
	bump := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { b.gen.Add(1) },
		UpdateFunc: func(any, any) { b.gen.Add(1) },
		DeleteFunc: func(any) { b.gen.Add(1) },
	}
	for _, inf := range []cache.SharedIndexInformer{roleBindings, clusterRoleBindings} {
		if _, err := inf.AddEventHandler(bump); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *bindingLists) current() *bindingSnapshot {
	gen := b.gen.Load()
	if s := b.snap.Load(); s != nil && s.gen == gen {
		return s
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.snap.Load(); s != nil && s.gen == gen {
		return s
	}
	s := &bindingSnapshot{gen: gen, byNS: map[string][]*rbacv1.RoleBinding{}}
	for _, o := range b.roleBindings.GetStore().List() {
		rb := o.(*rbacv1.RoleBinding)
		s.byNS[rb.Namespace] = append(s.byNS[rb.Namespace], rb)
	}
	for _, o := range b.clusterRoleBindings.GetStore().List() {
		s.cluster = append(s.cluster, o.(*rbacv1.ClusterRoleBinding))
	}
	b.snap.Store(s)
	return s
}

func (b *bindingLists) ListRoleBindings(_ context.Context, namespace string) ([]*rbacv1.RoleBinding, error) {
	return b.current().byNS[namespace], nil
}

func (b *bindingLists) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	return b.current().cluster, nil
}
