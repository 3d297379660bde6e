package ctl

import (
	"context"
	"strings"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestKubeconfigUser: `ctl kubeconfig user` prints a kubeconfig that the
// apiserver takes for the user and groups named; bad flags say what is
// missing.
func TestKubeconfigUser(t *testing.T) {
	isolate(t)
	s := apiservertest.Start(t)
	out, errOut, err := runCtl(t, "", "kubeconfig", "user", "--client-name", "jane", "--org", "devs", "--server", s.URL, "--cert-dir", s.Cfg.CertDir)
	if err != nil {
		t.Fatalf("ctl kubeconfig user: %v: %s", err, errOut)
	}
	cc, err := clientcmd.NewClientConfigFromBytes([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	who, err := kubernetes.NewForConfigOrDie(cfg).AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if u := who.Status.UserInfo; u.Username != "jane" || strings.Join(u.Groups, ",") != "devs,system:authenticated" {
		t.Errorf("got %s %v, want jane [devs system:authenticated]", u.Username, u.Groups)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--client-name", "jane", "--server", s.URL}, "--cert-dir is required"},
		{[]string{"--cert-dir", s.Cfg.CertDir, "--server", s.URL}, "--client-name is required"},
		{[]string{"--cert-dir", s.Cfg.CertDir, "--client-name", "jane", "--server", "http://x"}, "want an https:// URL"},
		{[]string{"--cert-dir", t.TempDir(), "--client-name", "jane", "--server", s.URL}, "reading the cluster CA"},
	} {
		_, errOut, err := runCtl(t, "", append([]string{"kubeconfig", "user"}, tt.args...)...)
		if err == nil || !strings.Contains(errOut, tt.want) {
			t.Errorf("ctl kubeconfig user %v: got %v, %q; want an error containing %q", tt.args, err, errOut, tt.want)
		}
	}
}
