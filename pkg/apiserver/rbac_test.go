package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/controllers/clusterroleaggregation"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// rbacServer is an apiserver with the clusterrole aggregation
// controller running (admin, edit and view get their rules from it, as
// in a cluster) and an admin client.
type rbacServer struct {
	*apiservertest.Server
	admin   kubernetes.Interface
	settled int
}

func startRBAC(t *testing.T) *rbacServer {
	t.Helper()
	s := apiservertest.Start(t)
	admin := kubernetes.NewForConfigOrDie(s.Config)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory := informers.NewSharedInformerFactory(admin, 0)
	agg := clusterroleaggregation.New(admin.RbacV1(), factory)
	factory.Start(ctx.Done())
	go agg.Run(ctx, 1)
	// view is aggregated from system:aggregate-to-view.
	waitFor(t, func() bool {
		r, err := admin.RbacV1().ClusterRoles().Get(ctx, "view", metav1.GetOptions{})
		return err == nil && len(r.Rules) > 0
	})
	return &rbacServer{Server: s, admin: admin}
}

// waitFor polls cond until it holds (a condition, not a timing: the
// limit only stops a test that would otherwise hang).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	}); err != nil {
		t.Fatalf("condition never held: %v", err)
	}
}

// settle waits until the server's RBAC informers hold every role and
// binding created before it: a sentinel of each kind, created now, is
// seen in effect (each kind's watch delivers in order).
func (s *rbacServer) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	s.settled++
	name := fmt.Sprintf("settle-%d", s.settled)
	s.create(t,
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{rule([]string{"get"}, "", "settles")}},
		clusterRoleBinding(name, name, userSubject(name)),
		role("default", name, rule([]string{"list"}, "", "settles")),
		roleBinding("default", name, "Role", name, userSubject(name)),
	)
	for _, verb := range []string{"get", "list"} {
		waitFor(t, func() bool {
			r, err := s.admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: name, ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: verb, Resource: "settles"}}}, metav1.CreateOptions{})
			return err == nil && r.Status.Allowed
		})
	}
}

// as is a client impersonating user with groups (the server adds
// system:authenticated, and a ServiceAccount's groups).
func (s *rbacServer) as(user string, groups ...string) kubernetes.Interface {
	cfg := rest.CopyConfig(s.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return kubernetes.NewForConfigOrDie(cfg)
}

func (s *rbacServer) create(t *testing.T, objs ...any) {
	t.Helper()
	ctx := context.Background()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Namespace:
			_, err = s.admin.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
		case *corev1.Pod:
			_, err = s.admin.CoreV1().Pods(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.ConfigMap:
			_, err = s.admin.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			_, err = s.admin.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			_, err = s.admin.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRole:
			_, err = s.admin.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.ClusterRoleBinding:
			_, err = s.admin.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		default:
			t.Fatalf("cannot create %T", o)
		}
		if err != nil {
			t.Fatalf("creating %T: %v", o, err)
		}
	}
}

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

var (
	read = []string{"get", "list", "watch"}
	// a pod any identity may be asked about
	teamPod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "team"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
)

func userSubject(name string) rbacv1.Subject {
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}
}

func role(ns, name string, rules ...rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules}
}

func roleBinding(ns, name, kind, roleName string, subjects ...rbacv1.Subject) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: roleName}, Subjects: subjects}
}

func clusterRoleBinding(name, roleName string, subjects ...rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName}, Subjects: subjects}
}

func nsObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// statusOf is the HTTP status of err (200 for none).
func statusOf(err error) int {
	if err == nil {
		return http.StatusOK
	}
	if s, ok := err.(apierrors.APIStatus); ok {
		return int(s.Status().Code)
	}
	return -1
}

// TestRBACRequests: requests × identities × expected status against the
// running server, with the policy bound as a cluster admin would.
func TestRBACRequests(t *testing.T) {
	s := startRBAC(t)
	ctx := context.Background()
	s.create(t, nsObj("team"), nsObj("other"), teamPod,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "allowed"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "denied"}},
		// jane: view in team only
		roleBinding("team", "jane-view", "ClusterRole", "view", userSubject("jane")),
		// a ServiceAccount bound to a Role
		role("team", "pod-reader", rule(read, "", "pods")),
		roleBinding("team", "builder-reads-pods", "Role", "pod-reader",
			rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: "team", Name: "builder"}),
		// every ServiceAccount of team, by group
		role("team", "configmap-reader", rule(read, "", "configmaps")),
		roleBinding("team", "team-sas", "Role", "configmap-reader", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:team"}),
		// a group across the cluster
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "node-reader"}, Rules: []rbacv1.PolicyRule{rule(read, "", "nodes")}},
		clusterRoleBinding("devs-read-nodes", "node-reader", rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "devs"}),
		// one ConfigMap by name
		role("team", "one-configmap", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"allowed"}}),
		roleBinding("team", "rn", "Role", "one-configmap", userSubject("rn")),
		// a subresource without its resource
		role("team", "status-only", rule([]string{"get"}, "", "pods/status")),
		roleBinding("team", "status-only", "Role", "status-only", userSubject("statuser")),
		// a path
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}}},
		clusterRoleBinding("prom-metrics", "metrics-reader", userSubject("prom")),
		// an aggregated role, bound before its rules exist
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "secrets-agg"}, AggregationRule: &rbacv1.AggregationRule{
			ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"example.com/aggregate-to-secrets": "true"}}}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "secrets-part", Labels: map[string]string{"example.com/aggregate-to-secrets": "true"}},
			Rules: []rbacv1.PolicyRule{rule(read, "", "secrets")}},
		clusterRoleBinding("agg-secrets", "secrets-agg", userSubject("agg")),
	)
	waitFor(t, func() bool {
		r, err := s.admin.RbacV1().ClusterRoles().Get(ctx, "secrets-agg", metav1.GetOptions{})
		return err == nil && len(r.Rules) == 1
	})
	s.settle(t)
	admin := s.admin
	jane := s.as("jane")
	sa := s.as("system:serviceaccount:team:builder")
	otherSA := s.as("system:serviceaccount:other:builder")
	dev := s.as("dev1", "devs")
	rn := s.as("rn")
	statuser := s.as("statuser")
	prom := s.as("prom")
	agg := s.as("agg")
	anon := s.as("system:anonymous", "system:unauthenticated")
	listPods := func(ns string) func(kubernetes.Interface) error {
		return func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			return err
		}
	}
	getPath := func(path string) func(kubernetes.Interface) error {
		return func(c kubernetes.Interface) error {
			return c.Discovery().RESTClient().Get().AbsPath(path).Do(ctx).Error()
		}
	}
	tests := []struct {
		name    string
		client  kubernetes.Interface
		do      func(kubernetes.Interface) error
		want    int
		wantMsg string
	}{
		{"admin lists pods", admin, listPods("team"), 200, ""},
		{"admin lists nodes", admin, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			return err
		}, 200, ""},

		{"view: reads pods in its namespace", jane, listPods("team"), 200, ""},
		{"view: reads deployments in its namespace", jane, func(c kubernetes.Interface) error {
			_, err := c.AppsV1().Deployments("team").List(ctx, metav1.ListOptions{})
			return err
		}, 200, ""},
		{"view: no secrets", jane, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{})
			return err
		}, 403, `secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the namespace "team"`},
		{"view: no writes", jane, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Pods("team").Create(ctx, teamPod.DeepCopy(), metav1.CreateOptions{})
			return err
		}, 403, `pods is forbidden: User "jane" cannot create resource "pods" in API group "" in the namespace "team"`},
		{"view: no deletes", jane, func(c kubernetes.Interface) error {
			return c.CoreV1().Pods("team").Delete(ctx, "p", metav1.DeleteOptions{})
		}, 403, `pods "p" is forbidden: User "jane" cannot delete resource "pods" in API group "" in the namespace "team"`},
		{"view: nothing in another namespace", jane, listPods("other"), 403,
			`pods is forbidden: User "jane" cannot list resource "pods" in API group "" in the namespace "other"`},
		{"view: not cluster-wide", jane, listPods(""), 403,
			`pods is forbidden: User "jane" cannot list resource "pods" in API group "" at the cluster scope`},
		{"authenticated: discovery", jane, getPath("/apis"), 200, ""},
		{"authenticated: no metrics", jane, getPath("/metrics"), 403, `forbidden: User "jane" cannot get path "/metrics"`},

		{"ServiceAccount: its Role's pods", sa, listPods("team"), 200, ""},
		{"ServiceAccount: not another namespace", sa, listPods("other"), 403,
			`pods is forbidden: User "system:serviceaccount:team:builder" cannot list resource "pods" in API group "" in the namespace "other"`},
		{"ServiceAccount: not its verbs", sa, func(c kubernetes.Interface) error {
			return c.CoreV1().Pods("team").Delete(ctx, "p", metav1.DeleteOptions{})
		}, 403, ""},
		{"ServiceAccount of the same name elsewhere", otherSA, listPods("team"), 403, ""},
		{"ServiceAccount: its namespace's group", sa, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
			return err
		}, 200, ""},
		{"ServiceAccount: another namespace's group", otherSA, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
			return err
		}, 403, `configmaps is forbidden: User "system:serviceaccount:other:builder" cannot list resource "configmaps" in API group "" in the namespace "team"`},

		{"group member", dev, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			return err
		}, 200, ""},
		{"not a group member", jane, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			return err
		}, 403,
			`nodes is forbidden: User "jane" cannot list resource "nodes" in API group "" at the cluster scope`},

		{"resourceNames: the named one", rn, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("team").Get(ctx, "allowed", metav1.GetOptions{})
			return err
		}, 200, ""},
		{"resourceNames: another", rn, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("team").Get(ctx, "denied", metav1.GetOptions{})
			return err
		}, 403, `configmaps "denied" is forbidden: User "rn" cannot get resource "configmaps" in API group "" in the namespace "team"`},
		{"resourceNames: no list", rn, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().ConfigMaps("team").List(ctx, metav1.ListOptions{})
			return err
		}, 403, ""},

		{"subresource: pods/status", statuser, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().RESTClient().Get().Namespace("team").Resource("pods").Name("p").SubResource("status").DoRaw(ctx)
			return err
		}, 200, ""},
		{"subresource: not the pod", statuser, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Pods("team").Get(ctx, "p", metav1.GetOptions{})
			return err
		}, 403, ""},
		{"subresource: not pods/log", statuser, func(c kubernetes.Interface) error {
			return c.CoreV1().Pods("team").GetLogs("p", &corev1.PodLogOptions{}).Do(ctx).Error()
		}, 403, `pods "p" is forbidden: User "statuser" cannot get resource "pods/log" in API group "" in the namespace "team"`},

		{"nonResourceURL: bound path", prom, getPath("/metrics"), 200, ""},
		{"nonResourceURL: no resources", prom, listPods("team"), 403, ""},

		{"aggregated ClusterRole", agg, func(c kubernetes.Interface) error {
			_, err := c.CoreV1().Secrets("team").List(ctx, metav1.ListOptions{})
			return err
		}, 200, ""},

		{"anonymous: public info", anon, getPath("/version"), 200, ""},
		{"anonymous: readyz", anon, getPath("/readyz"), 200, ""},
		{"anonymous: no discovery", anon, getPath("/apis"), 403, ""},
		{"anonymous: no pods", anon, listPods("team"), 403,
			`pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "team"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do(tt.client)
			if got := statusOf(err); got != tt.want {
				t.Fatalf("got status %d (%v), want %d", got, err, tt.want)
			}
			if tt.wantMsg != "" && err.Error() != tt.wantMsg {
				t.Errorf("got message %q, want %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

// TestRBACEscalation: a user may grant only what they hold, unless they
// may escalate roles or bind the role, as upstream.
func TestRBACEscalation(t *testing.T) {
	s := startRBAC(t)
	ctx := context.Background()
	writeRBAC := rule([]string{"create", "update", "get"}, rbacv1.GroupName, "roles", "rolebindings")
	s.create(t, nsObj("team"),
		// delegate may write roles and bindings and read pods
		role("team", "rbac-writer", writeRBAC, rule(read, "", "pods")),
		roleBinding("team", "delegate", "Role", "rbac-writer", userSubject("delegate")),
		// escalator may also escalate roles
		role("team", "escalator", writeRBAC, rule([]string{"escalate"}, rbacv1.GroupName, "roles")),
		roleBinding("team", "escalator", "Role", "escalator", userSubject("escalator")),
		// binder may bind cluster-admin (and nothing else) in team
		role("team", "binder", writeRBAC, rbacv1.PolicyRule{Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}}),
		roleBinding("team", "binder", "Role", "binder", userSubject("binder")),
		// aggregator may create cluster roles
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "clusterrole-writer"}, Rules: []rbacv1.PolicyRule{rule([]string{"create"}, rbacv1.GroupName, "clusterroles"), rule(read, "", "pods")}},
		clusterRoleBinding("aggregator", "clusterrole-writer", userSubject("aggregator")),
	)
	s.settle(t)
	readPods := role("team", "reads-pods", rule(read, "", "pods"))
	deletesPods := role("team", "deletes-pods", rule([]string{"delete"}, "", "pods"))
	held := `user %q (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`
	tests := []struct {
		name    string
		user    string
		do      func(kubernetes.Interface) error
		want    int
		wantMsg string // a prefix
	}{
		{"a Role within what one holds", "delegate", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().Roles("team").Create(ctx, readPods.DeepCopy(), metav1.CreateOptions{})
			return err
		}, 200, ""},
		{"a Role beyond what one holds", "delegate", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().Roles("team").Create(ctx, deletesPods.DeepCopy(), metav1.CreateOptions{})
			return err
		}, 403, `roles.rbac.authorization.k8s.io "deletes-pods" is forbidden: ` + strings.ReplaceAll(held, "%q", `"delegate"`) + "\n" + `{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}`},
		{"an update beyond what one holds", "delegate", func(c kubernetes.Interface) error {
			r, err := c.RbacV1().Roles("team").Get(ctx, "reads-pods", metav1.GetOptions{})
			if err != nil {
				return err
			}
			r.Rules = append(r.Rules, rule([]string{"delete"}, "", "pods"))
			_, err = c.RbacV1().Roles("team").Update(ctx, r, metav1.UpdateOptions{})
			return err
		}, 403, `roles.rbac.authorization.k8s.io "reads-pods" is forbidden: ` + strings.ReplaceAll(held, "%q", `"delegate"`)},
		{"a binding of a role one holds", "delegate", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().RoleBindings("team").Create(ctx, roleBinding("team", "reads", "Role", "reads-pods", userSubject("someone")), metav1.CreateOptions{})
			return err
		}, 200, ""},
		{"a binding of cluster-admin", "delegate", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().RoleBindings("team").Create(ctx, roleBinding("team", "admin", "ClusterRole", "cluster-admin", userSubject("delegate")), metav1.CreateOptions{})
			return err
		}, 403, `rolebindings.rbac.authorization.k8s.io "admin" is forbidden: ` + strings.ReplaceAll(held, "%q", `"delegate"`)},
		{"a binding of a missing role", "delegate", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().RoleBindings("team").Create(ctx, roleBinding("team", "ghost", "Role", "ghost", userSubject("delegate")), metav1.CreateOptions{})
			return err
		}, 404, `roles.rbac.authorization.k8s.io "ghost" not found`},
		{"escalate: a Role beyond what one holds", "escalator", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().Roles("team").Create(ctx, deletesPods.DeepCopy(), metav1.CreateOptions{})
			return err
		}, 200, ""},
		{"bind: cluster-admin", "binder", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().RoleBindings("team").Create(ctx, roleBinding("team", "team-admin", "ClusterRole", "cluster-admin", userSubject("someone")), metav1.CreateOptions{})
			return err
		}, 200, ""},
		{"bind: only the named role", "binder", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().RoleBindings("team").Create(ctx, roleBinding("team", "team-edit", "ClusterRole", "admin", userSubject("someone")), metav1.CreateOptions{})
			return err
		}, 403, `rolebindings.rbac.authorization.k8s.io "team-edit" is forbidden: `},
		{"aggregationRule needs cluster-admin", "aggregator", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gatherer"},
				AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"a": "b"}}}}}, metav1.CreateOptions{})
			return err
		}, 403, `clusterroles.rbac.authorization.k8s.io "gatherer" is forbidden: must have cluster-admin privileges to use the aggregationRule`},
		{"a ClusterRole within what one holds", "aggregator", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "pod-lister"}, Rules: []rbacv1.PolicyRule{rule([]string{"list"}, "", "pods")}}, metav1.CreateOptions{})
			return err
		}, 200, ""},
		{"system:masters may grant anything", "", func(c kubernetes.Interface) error {
			_, err := c.RbacV1().RoleBindings("team").Create(ctx, roleBinding("team", "root", "ClusterRole", "cluster-admin", userSubject("delegate")), metav1.CreateOptions{})
			return err
		}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.admin
			if tt.user != "" {
				c = s.as(tt.user)
			}
			err := tt.do(c)
			if got := statusOf(err); got != tt.want {
				t.Fatalf("got status %d (%v), want %d", got, err, tt.want)
			}
			if tt.wantMsg != "" && !strings.HasPrefix(err.Error(), tt.wantMsg) {
				t.Errorf("got message %q, want it to start with %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

// TestAccessReviews: SubjectAccessReview, LocalSubjectAccessReview,
// SelfSubjectAccessReview and SelfSubjectRulesReview answer from the
// authorizers, as upstream.
func TestAccessReviews(t *testing.T) {
	s := startRBAC(t)
	ctx := context.Background()
	s.create(t, nsObj("team"), roleBinding("team", "jane-view", "ClusterRole", "view", userSubject("jane")))
	s.settle(t)
	jane := s.as("jane")
	listPodsIn := func(ns string) *authorizationv1.ResourceAttributes {
		return &authorizationv1.ResourceAttributes{Namespace: ns, Verb: "list", Resource: "pods"}
	}
	t.Run("self: allowed", func(t *testing.T) {
		got, err := jane.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: listPodsIn("team")}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Status.Allowed || !strings.Contains(got.Status.Reason, `RBAC: allowed by RoleBinding "jane-view/team" of ClusterRole "view" to User "jane"`) {
			t.Errorf("got %+v, want allowed by jane-view", got.Status)
		}
	})
	t.Run("self: not allowed elsewhere", func(t *testing.T) {
		got, err := jane.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: listPodsIn("default")}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed || got.Status.Denied {
			t.Errorf("got allowed=%v denied=%v, want neither (no opinion)", got.Status.Allowed, got.Status.Denied)
		}
	})
	t.Run("self: invalid", func(t *testing.T) {
		_, err := jane.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
		if statusOf(err) != http.StatusUnprocessableEntity {
			t.Errorf("got %v, want 422", err)
		}
	})
	t.Run("subject: admin asks about jane", func(t *testing.T) {
		for ns, want := range map[string]bool{"team": true, "default": false} {
			got, err := s.admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
				Spec: authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: listPodsIn(ns)}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Allowed != want {
				t.Errorf("%s: got allowed=%v, want %v", ns, got.Status.Allowed, want)
			}
		}
	})
	t.Run("subject: jane may not ask", func(t *testing.T) {
		_, err := jane.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: listPodsIn("team")}}, metav1.CreateOptions{})
		if want := `subjectaccessreviews.authorization.k8s.io is forbidden: User "jane" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope`; statusOf(err) != 403 || err.Error() != want {
			t.Errorf("got %v, want 403 %q", err, want)
		}
	})
	t.Run("subject: no user", func(t *testing.T) {
		_, err := s.admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: listPodsIn("team")}}, metav1.CreateOptions{})
		if statusOf(err) != http.StatusUnprocessableEntity {
			t.Errorf("got %v, want 422", err)
		}
	})
	t.Run("local: in its namespace", func(t *testing.T) {
		got, err := s.admin.AuthorizationV1().LocalSubjectAccessReviews("team").Create(ctx, &authorizationv1.LocalSubjectAccessReview{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team"},
			Spec:       authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: listPodsIn("team")}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Status.Allowed {
			t.Errorf("got %+v, want allowed", got.Status)
		}
	})
	t.Run("local: another namespace in the spec", func(t *testing.T) {
		_, err := s.admin.AuthorizationV1().LocalSubjectAccessReviews("team").Create(ctx, &authorizationv1.LocalSubjectAccessReview{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team"},
			Spec:       authorizationv1.SubjectAccessReviewSpec{User: "jane", ResourceAttributes: listPodsIn("default")}}, metav1.CreateOptions{})
		if statusOf(err) != http.StatusUnprocessableEntity {
			t.Errorf("got %v, want 422", err)
		}
	})
	t.Run("rules: jane in team", func(t *testing.T) {
		got, err := jane.AuthorizationV1().SelfSubjectRulesReviews().Create(ctx, &authorizationv1.SelfSubjectRulesReview{
			Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: "team"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var pods, selfReviews bool
		for _, r := range got.Status.ResourceRules {
			if slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "list") && !slices.Contains(r.Verbs, "delete") {
				pods = true
			}
			if slices.Contains(r.Resources, "selfsubjectaccessreviews") {
				selfReviews = true
			}
		}
		if !pods || !selfReviews || len(got.Status.NonResourceRules) == 0 {
			t.Errorf("got %+v, want pods read (view), selfsubjectaccessreviews (basic-user) and paths (discovery)", got.Status)
		}
	})
}

// TestBootstrapPolicy: the bootstrap roles and bindings exist after a
// start, and a role's rules removed by hand come back at the next start
// (upstream's reconciliation), unless the role opts out.
func TestBootstrapPolicy(t *testing.T) {
	dir := t.TempDir()
	s := apiservertest.StartWith(t, dir, nil)
	admin := kubernetes.NewForConfigOrDie(s.Config)
	ctx := context.Background()
	for _, name := range []string{"cluster-admin", "admin", "edit", "view", "system:discovery", "system:basic-user", "system:public-info-viewer",
		"system:node", "system:kube-scheduler", "system:kube-controller-manager", "system:controller:replicaset-controller"} {
		if _, err := admin.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("clusterrole %s: %v", name, err)
		}
	}
	for _, name := range []string{"cluster-admin", "system:discovery", "system:public-info-viewer", "system:kube-scheduler", "system:kube-controller-manager"} {
		if _, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("clusterrolebinding %s: %v", name, err)
		}
	}
	if _, err := admin.RbacV1().Roles("kube-system").Get(ctx, "system:controller:bootstrap-signer", metav1.GetOptions{}); err != nil {
		t.Errorf("role kube-system/system:controller:bootstrap-signer: %v", err)
	}
	// Take rules away from one role and opt another out.
	basic, err := admin.RbacV1().ClusterRoles().Get(ctx, "system:basic-user", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := len(basic.Rules)
	basic.Rules = basic.Rules[:1]
	if _, err := admin.RbacV1().ClusterRoles().Update(ctx, basic, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	disc, err := admin.RbacV1().ClusterRoles().Get(ctx, "system:discovery", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	disc.Rules = disc.Rules[:0]
	disc.Annotations["rbac.authorization.kubernetes.io/autoupdate"] = "false"
	if _, err := admin.RbacV1().ClusterRoles().Update(ctx, disc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Server.Close()
	s = apiservertest.StartWith(t, dir, nil)
	admin = kubernetes.NewForConfigOrDie(s.Config)
	basic, err = admin.RbacV1().ClusterRoles().Get(ctx, "system:basic-user", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(basic.Rules) != want {
		t.Errorf("system:basic-user after restart: got %d rules, want %d", len(basic.Rules), want)
	}
	disc, err = admin.RbacV1().ClusterRoles().Get(ctx, "system:discovery", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(disc.Rules) != 0 {
		t.Errorf("system:discovery (autoupdate=false) after restart: got %d rules, want 0", len(disc.Rules))
	}
}

// TestRBACBindingChanges: a binding takes effect once written, and stops
// once deleted or once its subject is taken out (the authorizer's
// snapshots of the bindings follow the informers).
func TestRBACBindingChanges(t *testing.T) {
	s := startRBAC(t)
	ctx := context.Background()
	s.create(t, nsObj("team"), role("team", "pod-reader", rule(read, "", "pods")))
	can := func(user string) bool {
		r, err := s.admin.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "team", Verb: "list", Resource: "pods"}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return r.Status.Allowed
	}
	s.create(t, roleBinding("team", "readers", "Role", "pod-reader", userSubject("ann"), userSubject("bob")))
	waitFor(t, func() bool { return can("ann") && can("bob") })
	rb, err := s.admin.RbacV1().RoleBindings("team").Get(ctx, "readers", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rb.Subjects = rb.Subjects[:1]
	if _, err := s.admin.RbacV1().RoleBindings("team").Update(ctx, rb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !can("bob") })
	if !can("ann") {
		t.Errorf("ann: got refused, want allowed (still a subject)")
	}
	if err := s.admin.RbacV1().RoleBindings("team").Delete(ctx, "readers", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !can("ann") })
}
