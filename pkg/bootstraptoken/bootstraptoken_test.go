package bootstraptoken

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestCreate: a token is stored as kubeadm stores it, with the bindings;
// malformed tokens, usages and groups and a taken id are refused.
func TestCreate(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	opts := DefaultOptions()
	opts.Description = "node n3"
	tok, err := Create(ctx, cs, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.CoreV1().Secrets("kube-system").Get(ctx, "bootstrap-token-"+tok[:6], metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := time.Parse(time.RFC3339, string(s.Data["expiration"]))
	if err != nil || time.Until(exp) > 24*time.Hour || time.Until(exp) < 23*time.Hour {
		t.Errorf("got expiration %q, want a day from now", s.Data["expiration"])
	}
	for k, want := range map[string]string{
		"token-id": tok[:6], "token-secret": tok[7:], "description": "node n3",
		"usage-bootstrap-signing": "true", "usage-bootstrap-authentication": "true", "auth-extra-groups": DefaultGroup,
	} {
		if got := string(s.Data[k]); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	for _, b := range Bindings() {
		if _, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, b.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("binding %s: %v", b.Name, err)
		}
	}
	for _, tt := range []struct {
		name  string
		token string
		opts  func(*Options)
	}{
		{"malformed token", "abc.def", nil},
		{"unknown usage", "", func(o *Options) { o.Usages = []string{"everything"} }},
		{"group outside system:bootstrappers", "", func(o *Options) { o.Groups = []string{"system:masters"} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			if _, err := Create(ctx, cs, tt.token, o); err == nil {
				t.Error("got no error")
			}
		})
	}
	if _, err := Create(ctx, cs, tok, DefaultOptions()); !errors.Is(err, ErrExists) {
		t.Errorf("the same id again: got %v, want ErrExists", err)
	}
}
