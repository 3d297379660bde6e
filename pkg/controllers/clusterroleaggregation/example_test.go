package clusterroleaggregation_test

import (
	"context"
	"fmt"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"minik8s/pkg/controllers/clusterroleaggregation"
)

// Example: view gathers the rules of the roles labelled
// aggregate-to-view.
func Example() {
	toView := map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}
	client := fake.NewClientset(
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view"},
			AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: toView}}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "widget-reader", Labels: toView},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{"example.com"}, Resources: []string{"widgets"}}}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 0)
	c := clusterroleaggregation.New(client.RbacV1(), factory)
	factory.Start(ctx.Done())
	go c.Run(ctx, 1)
	var view *rbacv1.ClusterRole
	_ = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		view, err = client.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		return err == nil && len(view.Rules) > 0, nil
	})
	for _, r := range view.Rules {
		fmt.Println(r.Verbs, r.APIGroups, r.Resources)
	}
	// Output: [get list] [example.com] [widgets]
}
