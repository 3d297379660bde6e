package apiserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
)

// reconcileRBACPolicy creates or completes Kubernetes' bootstrap roles
// and bindings (cluster-admin, admin/edit/view, system:node,
// system:kube-scheduler, the controllers' roles, …) at every start, as
// kube-apiserver's rbac/bootstrap-roles post-start hook does, with
// upstream's reconciliation: missing rules and subjects are added,
// nothing is removed, and objects annotated
// rbac.authorization.kubernetes.io/autoupdate=false are left alone.
//
// It reads what exists with one list per kind instead of a get per
// object, and writes in parallel, to keep the start short.
func (s *Server) reconcileRBACPolicy(ctx context.Context) error {
	client := s.loopback.rbac
	crs, err := client.ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing clusterroles: %w", err)
	}
	crbs, err := client.ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing clusterrolebindings: %w", err)
	}
	rs, err := client.Roles(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing roles: %w", err)
	}
	rbs, err := client.RoleBindings(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing rolebindings: %w", err)
	}
	seen := &listed{objs: map[string]any{}}
	for i := range crs.Items {
		seen.objs["clusterroles//"+crs.Items[i].Name] = &crs.Items[i]
	}
	for i := range crbs.Items {
		seen.objs["clusterrolebindings//"+crbs.Items[i].Name] = &crbs.Items[i]
	}
	for i := range rs.Items {
		seen.objs["roles/"+rs.Items[i].Namespace+"/"+rs.Items[i].Name] = &rs.Items[i]
	}
	for i := range rbs.Items {
		seen.objs["rolebindings/"+rbs.Items[i].Namespace+"/"+rbs.Items[i].Name] = &rbs.Items[i]
	}

	ownRoles, ownBindings := minik8sPolicy()
	agentRole, agentBinding, agentLeaseRole, agentLeaseBinding := nodeAgentPolicy()
	ownRoles, ownBindings = append(ownRoles, *agentRole), append(ownBindings, *agentBinding)
	ownRoles = append(ownRoles, metricsReaderRole())
	var nsRoles []rbacv1.Role
	for _, roles := range bootstrappolicy.NamespaceRoles() {
		nsRoles = append(nsRoles, roles...)
	}
	var nsBindings []rbacv1.RoleBinding
	for _, bindings := range bootstrappolicy.NamespaceRoleBindings() {
		nsBindings = append(nsBindings, bindings...)
	}
	nsRoles, nsBindings = append(nsRoles, *agentLeaseRole), append(nsBindings, *agentLeaseBinding)
	var jobs []func() error
	for _, cr := range append(append(bootstrappolicy.ClusterRoles(), bootstrappolicy.ControllerRoles()...), ownRoles...) {
		opts := reconciliation.ReconcileRoleOptions{
			Role:    reconciliation.ClusterRoleRuleOwner{ClusterRole: &cr},
			Client:  listedClusterRoles{seen, reconciliation.ClusterRoleModifier{Client: client.ClusterRoles()}},
			Confirm: true,
		}
		jobs = append(jobs, func() error { return reconcileRole(&opts, "clusterrole", cr.Name) })
	}
	for _, crb := range append(append(bootstrappolicy.ClusterRoleBindings(), bootstrappolicy.ControllerRoleBindings()...), ownBindings...) {
		opts := reconciliation.ReconcileRoleBindingOptions{
			RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: &crb},
			Client:      listedClusterRoleBindings{seen, reconciliation.ClusterRoleBindingClientAdapter{Client: client.ClusterRoleBindings()}},
			Confirm:     true,
		}
		jobs = append(jobs, func() error { return reconcileBinding(&opts, "clusterrolebinding", crb.Name) })
	}
	for _, r := range nsRoles {
		opts := reconciliation.ReconcileRoleOptions{
			Role:    reconciliation.RoleRuleOwner{Role: &r},
			Client:  listedRoles{seen, reconciliation.RoleModifier{Client: client, NamespaceClient: s.loopback.core.Namespaces()}},
			Confirm: true,
		}
		jobs = append(jobs, func() error { return reconcileRole(&opts, "role", r.Namespace+"/"+r.Name) })
	}
	for _, b := range nsBindings {
		opts := reconciliation.ReconcileRoleBindingOptions{
			RoleBinding: reconciliation.RoleBindingAdapter{RoleBinding: &b},
			Client:      listedRoleBindings{seen, reconciliation.RoleBindingClientAdapter{Client: client, NamespaceClient: s.loopback.core.Namespaces()}},
			Confirm:     true,
		}
		jobs = append(jobs, func() error { return reconcileBinding(&opts, "rolebinding", b.Namespace+"/"+b.Name) })
	}
	return runParallel(ctx, 8, jobs)
}

// minik8sPolicy is minik8s' own addition to the bootstrap policy: what
// its controllers write beyond the upstream roles of the controllers
// they stand for, whose ServiceAccounts they act as with the
// controller-manager's --use-service-account-credentials. The
// local-path provisioner (persistent-volume-binder) creates its default
// StorageClass; the EndpointSlice controller (endpointslice-controller)
// also writes the mirrored Endpoints, upstream's endpoint-controller's
// work. (The node agents' own additions are nodeAgentPolicy.)
func minik8sPolicy() ([]rbacv1.ClusterRole, []rbacv1.ClusterRoleBinding) {
	sa := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: metav1.NamespaceSystem, Name: name}
	}
	grants := []struct {
		name    string
		subject rbacv1.Subject
		rules   []rbacv1.PolicyRule
	}{
		{"minik8s:local-path-provisioner", sa("persistent-volume-binder"), []rbacv1.PolicyRule{
			{Verbs: []string{"create"}, APIGroups: []string{"storage.k8s.io"}, Resources: []string{"storageclasses"}}}},
		{"minik8s:endpointslice-controller", sa("endpointslice-controller"), []rbacv1.PolicyRule{
			{Verbs: []string{"create", "update", "patch", "delete"}, APIGroups: []string{""}, Resources: []string{"endpoints"}}}},
	}
	var roles []rbacv1.ClusterRole
	var bindings []rbacv1.ClusterRoleBinding
	for _, g := range grants {
		meta := metav1.ObjectMeta{
			Name:        g.name,
			Labels:      maps.Clone(bootstrappolicy.Label),
			Annotations: maps.Clone(bootstrappolicy.Annotation),
		}
		roles = append(roles, rbacv1.ClusterRole{ObjectMeta: meta, Rules: g.rules})
		bindings = append(bindings, rbacv1.ClusterRoleBinding{
			ObjectMeta: *meta.DeepCopy(),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: g.name},
			Subjects:   []rbacv1.Subject{g.subject},
		})
	}
	return roles, bindings
}

// runParallel runs jobs on n workers and joins their errors: like
// upstream, one object that fails does not stop the others.
func runParallel(ctx context.Context, n int, jobs []func() error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	ch := make(chan func() error)
	for range n {
		wg.Go(func() {
			for job := range ch {
				if err := job(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, job := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- job
	}
	close(ch)
	wg.Wait()
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

func retryable(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsServiceUnavailable(err)
}

func reconcileRole(opts *reconciliation.ReconcileRoleOptions, kind, name string) error {
	err := retry.OnError(retry.DefaultBackoff, retryable, func() error {
		_, err := opts.Run()
		return err
	})
	if err != nil {
		return fmt.Errorf("reconciling %s %s: %w", kind, name, err)
	}
	return nil
}

func reconcileBinding(opts *reconciliation.ReconcileRoleBindingOptions, kind, name string) error {
	err := retry.OnError(retry.DefaultBackoff, retryable, func() error {
		_, err := opts.Run()
		return err
	})
	if err != nil {
		return fmt.Errorf("reconciling %s %s: %w", kind, name, err)
	}
	return nil
}

// listed holds the objects of the start's listing. Each is handed out
// once: a reconciliation that reads an object again (after a conflict)
// reads it from the server.
type listed struct {
	mu   sync.Mutex
	objs map[string]any
}

func (l *listed) take(key string) (any, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.objs[key]
	if ok {
		l.objs[key] = nil
	}
	return o, ok && o != nil
}

// absent reports whether the listing showed no object under key (the
// server need not be asked).
func (l *listed) absent(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.objs[key]
	if !ok {
		l.objs[key] = nil
	}
	return !ok
}

// fromListing answers a reconciliation's Get of resource ns/name from
// the listing (once per object: a second Get reads the server, as after a
// write), NotFound when the listing had no such object, else live().
func fromListing[T any](seen *listed, resource, ns, name string, wrap func(any) T, live func(ns, name string) (T, error)) (T, error) {
	key := resource + "/" + ns + "/" + name
	if o, ok := seen.take(key); ok {
		return wrap(o), nil
	}
	if seen.absent(key) {
		var zero T
		return zero, apierrors.NewNotFound(rbacv1.Resource(resource), name)
	}
	return live(ns, name)
}

type listedClusterRoles struct {
	seen *listed
	reconciliation.ClusterRoleModifier
}

func (c listedClusterRoles) Get(ns, name string) (reconciliation.RuleOwner, error) {
	return fromListing(c.seen, "clusterroles", ns, name, func(o any) reconciliation.RuleOwner {
		return reconciliation.ClusterRoleRuleOwner{ClusterRole: o.(*rbacv1.ClusterRole)}
	}, c.ClusterRoleModifier.Get)
}

type listedRoles struct {
	seen *listed
	reconciliation.RoleModifier
}

func (c listedRoles) Get(ns, name string) (reconciliation.RuleOwner, error) {
	return fromListing(c.seen, "roles", ns, name, func(o any) reconciliation.RuleOwner {
		return reconciliation.RoleRuleOwner{Role: o.(*rbacv1.Role)}
	}, c.RoleModifier.Get)
}

type listedClusterRoleBindings struct {
	seen *listed
	reconciliation.ClusterRoleBindingClientAdapter
}

func (c listedClusterRoleBindings) Get(ns, name string) (reconciliation.RoleBinding, error) {
	return fromListing(c.seen, "clusterrolebindings", ns, name, func(o any) reconciliation.RoleBinding {
		return reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: o.(*rbacv1.ClusterRoleBinding)}
	}, c.ClusterRoleBindingClientAdapter.Get)
}

type listedRoleBindings struct {
	seen *listed
	reconciliation.RoleBindingClientAdapter
}

func (c listedRoleBindings) Get(ns, name string) (reconciliation.RoleBinding, error) {
	return fromListing(c.seen, "rolebindings", ns, name, func(o any) reconciliation.RoleBinding {
		return reconciliation.RoleBindingAdapter{RoleBinding: o.(*rbacv1.RoleBinding)}
	}, c.RoleBindingClientAdapter.Get)
}
