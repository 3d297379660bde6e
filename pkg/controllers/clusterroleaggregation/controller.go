package clusterroleaggregation

import (
	"context"
	"sort"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	rbacv1ac "k8s.io/client-go/applyconfigurations/rbac/v1"
	"k8s.io/client-go/informers"
	rbacclient "k8s.io/client-go/kubernetes/typed/rbac/v1"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

// Name is the controller's name in kube-controller-manager; FieldManager
// the manager of the rules it applies.
const (
	Name         = "clusterrole-aggregation-controller"
	FieldManager = "clusterrole-aggregation-controller"
)

// Controller aggregates ClusterRoles.
type Controller struct {
	client rbacclient.ClusterRolesGetter
	lister rbaclisters.ClusterRoleLister
	synced []cache.InformerSynced
	queue  workqueue.TypedRateLimitingInterface[string]
}

// New wires the controller to the factory's ClusterRole informer. The
// queue's keys are the names of aggregated ClusterRoles.
func New(client rbacclient.ClusterRolesGetter, factory informers.SharedInformerFactory) *Controller {
	inf := factory.Rbac().V1().ClusterRoles()
	c := &Controller{
		client: client,
		lister: inf.Lister(),
		synced: []cache.InformerSynced{inf.Informer().HasSynced},
		queue:  reconcile.NewQueue("clusterrole_aggregation"),
	}
	// Which roles a change affects depends on every selector; the roles
	// are few, so any change queues every aggregated role, as upstream.
	inf.Informer().AddEventHandler(reconcile.Handler(func(any) { c.enqueueAggregated() }))
	return c
}

func (c *Controller) enqueueAggregated() {
	all, err := c.lister.List(labels.Everything())
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	for _, r := range all {
		if r.AggregationRule != nil {
			c.queue.Add(r.Name)
		}
	}
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, Name, c.queue, workers, c.synced, reconcile.Plain(c.sync),
		reconcile.Quiet(apierrors.IsConflict))
}

// sync applies the rules the role's selectors gather, when they differ
// from the role's.
func (c *Controller) sync(ctx context.Context, name string) error {
	role, err := c.lister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if role.AggregationRule == nil {
		return nil
	}
	rules, err := c.aggregate(role)
	if err != nil {
		// A selector that does not parse stays wrong until the role
		// changes: nothing to retry.
		utilruntime.HandleError(err)
		return nil
	}
	if equality.Semantic.DeepEqual(rules, role.Rules) {
		return nil
	}
	apply := rbacv1ac.ClusterRole(name)
	for _, r := range rules {
		ar := rbacv1ac.PolicyRule()
		ar.Verbs, ar.APIGroups, ar.Resources, ar.ResourceNames, ar.NonResourceURLs = r.Verbs, r.APIGroups, r.Resources, r.ResourceNames, r.NonResourceURLs
		apply.WithRules(ar)
	}
	_, err = c.client.ClusterRoles().Apply(ctx, apply, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	return err
}

// aggregate is the union of the rules of the other roles role's
// selectors match, selector by selector, each's roles in name order;
// never nil, so that a role nothing matches has an empty list.
func (c *Controller) aggregate(role *rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	rules := []rbacv1.PolicyRule{}
	for i := range role.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&role.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			return nil, err
		}
		matched, err := c.lister.List(sel)
		if err != nil {
			return nil, err
		}
		sort.Slice(matched, func(a, b int) bool { return matched[a].Name < matched[b].Name })
		for _, m := range matched {
			if m.Name == role.Name {
				continue
			}
			for _, r := range m.Rules {
				if !contains(rules, r) {
					rules = append(rules, r)
				}
			}
		}
	}
	return rules, nil
}

func contains(rules []rbacv1.PolicyRule, r rbacv1.PolicyRule) bool {
	for _, have := range rules {
		if equality.Semantic.DeepEqual(have, r) {
			return true
		}
	}
	return false
}
