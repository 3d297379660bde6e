package apiserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/pki"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
)

// bootstrapToken is a kube-system Secret as `ctl token create` and
// kubeadm make it.
func bootstrapToken(id, secret string, expires time.Time, usages ...string) *corev1.Secret {
	data := map[string][]byte{
		"token-id":          []byte(id),
		"token-secret":      []byte(secret),
		"expiration":        []byte(expires.UTC().Format(time.RFC3339)),
		"auth-extra-groups": []byte("system:bootstrappers:minik8s:default-node-token"),
	}
	for _, u := range usages {
		data["usage-bootstrap-"+u] = []byte("true")
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: metav1.NamespaceSystem},
		Type:       corev1.SecretTypeBootstrapToken,
		Data:       data,
	}
}

// whoamiOverTLS sends a SelfSubjectReview with a bearer token to the
// server's handler as if over TLS (plain HTTP makes everyone the
// unsecured admin, which would hide a refused token).
func whoamiOverTLS(t *testing.T, s *apiservertest.Server, token string) (int, authenticationv1.UserInfo) {
	t.Helper()
	body := strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`)
	req := httptest.NewRequest(http.MethodPost, "/apis/authentication.k8s.io/v1/selfsubjectreviews", body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	s.Server.Handler().ServeHTTP(rec, req)
	var out authenticationv1.SelfSubjectReview
	if rec.Code == http.StatusCreated {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("decoding the review: %v", err)
		}
	}
	return rec.Code, out.Status.UserInfo
}

// TestBootstrapTokenAuthentication: a bootstrap token authenticates as
// system:bootstrap:<id> in system:bootstrappers and its extra groups
// while valid; an expired one, a wrong secret and a token not meant for
// authentication are 401.
func TestBootstrapTokenAuthentication(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	hour := time.Now().Add(time.Hour)
	for _, sec := range []*corev1.Secret{
		bootstrapToken("abcdef", "0123456789abcdef", hour, "authentication", "signing"),
		bootstrapToken("expird", "0123456789abcdef", time.Now().Add(-time.Minute), "authentication"),
		bootstrapToken("signon", "0123456789abcdef", hour, "signing"),
	} {
		if _, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The authenticator reads an informer: wait until it has the Secrets.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, _ := whoamiOverTLS(t, s, "abcdef.0123456789abcdef")
		return code == http.StatusCreated, nil
	}); err != nil {
		t.Fatalf("the valid token never authenticated: %v", err)
	}
	for _, tt := range []struct {
		name       string
		token      string
		wantCode   int
		wantUser   string
		wantGroups []string
	}{
		{"valid", "abcdef.0123456789abcdef", http.StatusCreated, "system:bootstrap:abcdef",
			[]string{"system:bootstrappers", "system:bootstrappers:minik8s:default-node-token", "system:authenticated"}},
		{"wrong secret", "abcdef.0123456789abcdee", http.StatusUnauthorized, "", nil},
		{"expired", "expird.0123456789abcdef", http.StatusUnauthorized, "", nil},
		{"not for authentication", "signon.0123456789abcdef", http.StatusUnauthorized, "", nil},
		{"unknown id", "zzzzzz.0123456789abcdef", http.StatusUnauthorized, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, u := whoamiOverTLS(t, s, tt.token)
			if code != tt.wantCode {
				t.Fatalf("got %d, want %d", code, tt.wantCode)
			}
			if u.Username != tt.wantUser || !slices.Equal(u.Groups, tt.wantGroups) {
				t.Errorf("got %s %v, want %s %v", u.Username, u.Groups, tt.wantUser, tt.wantGroups)
			}
		})
	}
}

// TestBootstrapTokenAuthenticationOff: with
// --enable-bootstrap-token-auth=false a valid token is refused.
func TestBootstrapTokenAuthenticationOff(t *testing.T) {
	s := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) { c.EnableBootstrapTokenAuth = false })
	cs := clientset(t, s)
	if _, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Create(context.Background(),
		bootstrapToken("abcdef", "0123456789abcdef", time.Now().Add(time.Hour), "authentication"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if code, _ := whoamiOverTLS(t, s, "abcdef.0123456789abcdef"); code != http.StatusUnauthorized {
		t.Errorf("got %d, want 401", code)
	}
}

func testPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
		},
	}
}

// asNode is a client acting as the agent of node name.
func asNode(t *testing.T, s *apiservertest.Server, name string) kubernetes.Interface {
	cfg := rest.CopyConfig(s.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:node:" + name, Groups: []string{user.NodesGroup}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestNodeRestriction: an agent changes only its own Node, Lease and its
// pods' status, refused otherwise with upstream's NodeRestriction
// messages; the admin is not restricted.
func TestNodeRestriction(t *testing.T) {
	s := apiservertest.Start(t)
	admin := clientset(t, s)
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*corev1.Pod{testPod("p1", "n1"), testPod("p2", "n2"), testPod("p2b", "n2")} {
		if _, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	n1 := asNode(t, s, "n1")
	// Deletes and evictions read the pod from an informer: wait until it
	// has the pods.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		err := n1.CoreV1().Pods("default").Delete(ctx, "p2b", metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}})
		return apierrors.IsForbidden(err), nil
	}); err != nil {
		t.Fatalf("the pod informer never synced: %v", err)
	}
	getNode := func(name string) *corev1.Node {
		n, err := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	getPod := func(name string) *corev1.Pod {
		p, err := admin.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	lease := func(name string) *coordinationv1.Lease {
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease}}
	}
	for _, tt := range []struct {
		name string
		do   func() error
		// want is the refusal's message; "" when allowed.
		want string
	}{
		{"its own node's status", func() error {
			n := getNode("n1")
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
			_, err := n1.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
			return err
		}, ""},
		{"its own node's labels", func() error {
			n := getNode("n1")
			n.Labels = map[string]string{"example.com/disk": "ssd"}
			_, err := n1.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		}, ""},
		{"another node", func() error {
			n := getNode("n2")
			n.Labels = map[string]string{"example.com/disk": "ssd"}
			_, err := n1.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		}, `nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`},
		{"another node's status", func() error {
			_, err := n1.CoreV1().Nodes().UpdateStatus(ctx, getNode("n2"), metav1.UpdateOptions{})
			return err
		}, `nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"`},
		{"its own node's taints", func() error {
			n := getNode("n1")
			n.Spec.Taints = []corev1.Taint{{Key: "example.com/t", Effect: corev1.TaintEffectNoSchedule}}
			_, err := n1.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		}, `nodes "n1" is forbidden: node "n1" is not allowed to modify taints`},
		{"deleting another node", func() error {
			return n1.CoreV1().Nodes().Delete(ctx, "n2", metav1.DeleteOptions{})
			// The Node authorizer's rules give nodes no delete of
			// nodes: RBAC's 403 comes before NodeRestriction's, as in
			// Kubernetes.
		}, `nodes "n2" is forbidden: User "system:node:n1" cannot delete resource "nodes" in API group "" at the cluster scope`},
		{"its own pod's status", func() error {
			p := getPod("p1")
			p.Status.Phase = corev1.PodRunning
			_, err := n1.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}, ""},
		{"another node's pod's status", func() error {
			p := getPod("p2")
			p.Status.Phase = corev1.PodRunning
			_, err := n1.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			return err
		}, `pods "p2" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself`},
		{"a pod's spec", func() error {
			p := getPod("p1")
			p.Labels = map[string]string{"a": "b"}
			_, err := n1.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{})
			return err
			// Nodes may not update pods at all: the authorizer refuses.
		}, `pods "p1" is forbidden: User "system:node:n1" cannot update resource "pods" in API group "" in the namespace "default"`},
		{"a pod that is not a mirror pod", func() error {
			_, err := n1.CoreV1().Pods("default").Create(ctx, testPod("p3", "n1"), metav1.CreateOptions{})
			return err
		}, `pods "p3" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n1" can only create mirror pods`},
		{"deleting another node's pod", func() error {
			return n1.CoreV1().Pods("default").Delete(ctx, "p2", metav1.DeleteOptions{})
		}, `pods "p2" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself`},
		{"evicting another node's pod", func() error {
			return n1.PolicyV1().Evictions("default").Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p2", Namespace: "default"}})
		}, `pods "p2" is forbidden: node n1 can only evict pods with spec.nodeName set to itself`},
		{"its own lease", func() error {
			_, err := n1.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease("n1"), metav1.CreateOptions{})
			return err
		}, ""},
		{"another node's lease", func() error {
			_, err := n1.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, lease("n2"), metav1.CreateOptions{})
			return err
		}, `leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the requesting node`},
		{"the admin is not restricted", func() error {
			n := getNode("n2")
			n.Spec.Taints = []corev1.Taint{{Key: "example.com/t", Effect: corev1.TaintEffectNoSchedule}}
			_, err := admin.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			return err
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v, want it allowed", err)
			case tt.want != "" && !apierrors.IsForbidden(err):
				t.Fatalf("got %v, want 403 %q", err, tt.want)
			case tt.want != "" && err.Error() != tt.want:
				t.Fatalf("got %q, want %q", err.Error(), tt.want)
			}
		})
	}
}

// TestNodeAuthorizer: a node may read the Secrets, ConfigMaps and claims
// of the pods bound to it and no others, its own Node only, and list
// pods only with its own spec.nodeName selector (the Node authorizer
// alone; RBAC decides the rest of the chain).
func TestNodeAuthorizer(t *testing.T) {
	s := apiservertest.Start(t)
	admin := clientset(t, s)
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		if _, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	p1 := testPod("p1", "n1")
	p1.Spec.Volumes = []corev1.Volume{
		{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s1"}}},
		{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claim1"}}},
	}
	p1.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "c1"}}}}
	p2 := testPod("p2", "n2")
	p2.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s2"}}}}
	for _, p := range []*corev1.Pod{p1, p2} {
		if _, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	authz := s.Server.NodeAuthorizer()
	node := func(name string) user.Info {
		return &user.DefaultInfo{Name: "system:node:" + name, Groups: []string{user.NodesGroup, user.AllAuthenticated}}
	}
	get := func(u user.Info, resource, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: "get", Namespace: ns, Resource: resource, Name: name, ResourceRequest: true}
	}
	// The graph is fed by informers: wait until it has the pods.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		d, _, err := authz.Authorize(ctx, get(node("n2"), "secrets", "default", "s2"))
		return d == authorizer.DecisionAllow && err == nil, nil
	}); err != nil {
		t.Fatalf("the graph never had the pods: %v", err)
	}
	listPods := authorizer.AttributesRecord{User: node("n1"), Verb: "list", Resource: "pods", ResourceRequest: true}
	listOwnPods := listPods
	listOwnPods.FieldSelectorRequirements, listOwnPods.FieldSelectorParsingErr = fieldRequirements(t, "spec.nodeName=n1")
	listOthersPods := listPods
	listOthersPods.FieldSelectorRequirements, listOthersPods.FieldSelectorParsingErr = fieldRequirements(t, "spec.nodeName=n2")
	for _, tt := range []struct {
		name  string
		attrs authorizer.Attributes
		want  authorizer.Decision
	}{
		{"its pod's secret", get(node("n1"), "secrets", "default", "s1"), authorizer.DecisionAllow},
		{"another node's pod's secret", get(node("n1"), "secrets", "default", "s2"), authorizer.DecisionNoOpinion},
		{"the other node's own secret", get(node("n2"), "secrets", "default", "s2"), authorizer.DecisionAllow},
		{"its pod's configmap", get(node("n1"), "configmaps", "default", "c1"), authorizer.DecisionAllow},
		{"a configmap no pod of it uses", get(node("n2"), "configmaps", "default", "c1"), authorizer.DecisionNoOpinion},
		{"its pod's claim", get(node("n1"), "persistentvolumeclaims", "default", "claim1"), authorizer.DecisionAllow},
		{"another node's pod's claim", get(node("n2"), "persistentvolumeclaims", "default", "claim1"), authorizer.DecisionNoOpinion},
		{"its own pod", get(node("n1"), "pods", "default", "p1"), authorizer.DecisionAllow},
		{"another node's pod", get(node("n1"), "pods", "default", "p2"), authorizer.DecisionNoOpinion},
		{"its own node", get(node("n1"), "nodes", "", "n1"), authorizer.DecisionAllow},
		{"another node", get(node("n1"), "nodes", "", "n2"), authorizer.DecisionNoOpinion},
		{"listing every secret", authorizer.AttributesRecord{User: node("n1"), Verb: "list", Resource: "secrets", ResourceRequest: true}, authorizer.DecisionNoOpinion},
		{"listing every pod", listPods, authorizer.DecisionNoOpinion},
		{"listing its own pods", listOwnPods, authorizer.DecisionAllow},
		{"listing another node's pods", listOthersPods, authorizer.DecisionNoOpinion},
		{"not a node", get(&user.DefaultInfo{Name: "jane", Groups: []string{user.AllAuthenticated}}, "secrets", "default", "s1"), authorizer.DecisionNoOpinion},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := authz.Authorize(ctx, tt.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got decision %d (%q), want %d", got, reason, tt.want)
			}
		})
	}
}

func fieldRequirements(t *testing.T, selector string) (fields.Requirements, error) {
	t.Helper()
	sel, err := fields.ParseSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	return sel.Requirements(), nil
}

// TestNodeRestrictionTokenRequest: a node may ask for a ServiceAccount
// token only bound to a pod of its own, with upstream's refusals, on the
// serviceaccounts/token path itself. The Node authorizer lets node n1 ask
// for "default"'s tokens (its pod p1 runs as "default"); NodeRestriction
// then refuses a token bound to p2, which runs as "default" on n2.
func TestNodeRestrictionTokenRequest(t *testing.T) {
	s := apiservertest.Start(t)
	admin := clientset(t, s)
	ctx := context.Background()
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pods := map[string]*corev1.Pod{}
	for _, p := range []*corev1.Pod{testPod("p1", "n1"), testPod("p2", "n2")} {
		p.Spec.ServiceAccountName = "default"
		// The projected token the agent asks for (the API audience).
		p.Spec.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}},
		}}}}
		got, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pods[p.Name] = got
	}
	n1, err := kubernetes.NewForConfig(s.ConfigFor(t, pki.Identity{User: "system:node:n1", Groups: []string{user.NodesGroup}}))
	if err != nil {
		t.Fatal(err)
	}
	bound := func(pod string) *authenticationv1.TokenRequest {
		return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{
			Kind: "Pod", APIVersion: "v1", Name: pod, UID: pods[pod].UID,
		}}}
	}
	request := func(tr *authenticationv1.TokenRequest) error {
		_, err := n1.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", tr, metav1.CreateOptions{})
		return err
	}
	// The authorizer's graph and the plugin's pod lister are informers:
	// wait until both know both pods.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		other := request(bound("p2"))
		return request(bound("p1")) == nil && other != nil && strings.Contains(other.Error(), "different node"), nil
	}); err != nil {
		t.Fatalf("a token bound to its own pod was never issued: %v", request(bound("p1")))
	}
	for _, tt := range []struct {
		name string
		tr   *authenticationv1.TokenRequest
		want string
	}{
		{"bound to another node's pod", bound("p2"), `serviceaccounts "default" is forbidden: node requested token bound to a pod scheduled on a different node`},
		{"not bound", &authenticationv1.TokenRequest{}, `serviceaccounts "default" is forbidden: node requested token not bound to a pod`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := request(tt.tr)
			if !apierrors.IsForbidden(err) || err.Error() != tt.want {
				t.Errorf("got %v, want 403 %q", err, tt.want)
			}
		})
	}
	// An administrator is no node: the plugin lets it ask for any token.
	if _, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{}); err != nil {
		t.Errorf("an administrator's token request: %v", err)
	}
}

// TestNodeAgentCalls: every request the agent (with its Service proxy,
// routes and LoadBalancer announcer) makes as system:node:n1 is allowed
// by the Node authorizer or by the node agent policy RBAC adds; reading
// another node's objects and writing others' Services' specs stay
// refused by both.
func TestNodeAgentCalls(t *testing.T) {
	s := apiservertest.Start(t)
	admin := clientset(t, s)
	ctx := context.Background()
	pod := testPod("p1", "n1")
	pod.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s1"}}}}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The policy is in the API from the start.
	if _, err := admin.RbacV1().ClusterRoleBindings().Get(ctx, "system:minik8s:node-agent", metav1.GetOptions{}); err != nil {
		t.Fatalf("the node agent binding: %v", err)
	}
	if _, err := admin.RbacV1().RoleBindings(corev1.NamespaceNodeLease).Get(ctx, "system:minik8s:node-agent", metav1.GetOptions{}); err != nil {
		t.Fatalf("the node agent lease binding: %v", err)
	}
	authz := s.Server.NodeAuthorizer()
	n1 := &user.DefaultInfo{Name: "system:node:n1", Groups: []string{user.NodesGroup, user.AllAuthenticated}}
	req := func(verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: n1, Verb: verb, APIGroup: group, APIVersion: "v1", Resource: resource, Subresource: sub,
			Namespace: ns, Name: name, ResourceRequest: true}
	}
	allowed := func(a authorizer.AttributesRecord) bool {
		d, _, err := authz.Authorize(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return d == authorizer.DecisionAllow || rbac.RulesAllow(a, apiserver.NodeAgentRules(a.Namespace)...)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return allowed(req("get", "", "secrets", "", "default", "s1")), nil
	}); err != nil {
		t.Fatal("the graph never had the pod")
	}
	ownPods := req("watch", "", "pods", "", "", "")
	ownPods.FieldSelectorRequirements, ownPods.FieldSelectorParsingErr = fieldRequirements(t, "spec.nodeName=n1")
	for _, tt := range []struct {
		name string
		a    authorizer.AttributesRecord
		want bool
	}{
		{"register its Node", req("create", "", "nodes", "", "", "n1"), true},
		{"read its Node", req("get", "", "nodes", "", "", "n1"), true},
		{"post its Node's status", req("patch", "", "nodes", "status", "", "n1"), true},
		{"renew its Lease", req("update", "coordination.k8s.io", "leases", "", "kube-node-lease", "n1"), true},
		{"watch its pods", ownPods, true},
		{"report a pod's status", req("patch", "", "pods", "status", "default", "p1"), true},
		{"delete a pod it ended", req("delete", "", "pods", "", "default", "p1"), true},
		{"read a secret its pod mounts", req("get", "", "secrets", "", "default", "s1"), true},
		{"record events", req("create", "", "events", "", "default", ""), true},
		{"renew its certificate", req("create", "certificates.k8s.io", "certificatesigningrequests", "", "", ""), true},
		{"review a caller's token", req("create", "authentication.k8s.io", "tokenreviews", "", "", ""), true},
		{"review a caller's access", req("create", "authorization.k8s.io", "subjectaccessreviews", "", "", ""), true},
		{"routes: watch every Node", req("watch", "", "nodes", "", "", ""), true},
		{"proxy: watch Services", req("watch", "", "services", "", "", ""), true},
		{"proxy: watch EndpointSlices", req("watch", "discovery.k8s.io", "endpointslices", "", "", ""), true},
		{"announcer: watch the node Leases", req("watch", "coordination.k8s.io", "leases", "", "kube-node-lease", ""), true},
		{"announcer: record itself on a Service", req("patch", "", "services", "", "default", "web"), true},
		{"read a secret no pod of it mounts", req("get", "", "secrets", "", "default", "other"), false},
		{"list every secret", req("list", "", "secrets", "", "", ""), false},
		{"update a Service", req("update", "", "services", "", "default", "web"), false},
		{"watch Leases elsewhere", req("watch", "coordination.k8s.io", "leases", "", "kube-system", ""), false},
		{"write EndpointSlices", req("create", "discovery.k8s.io", "endpointslices", "", "default", ""), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := allowed(tt.a); got != tt.want {
				t.Errorf("got allowed %v, want %v", got, tt.want)
			}
		})
	}
}
