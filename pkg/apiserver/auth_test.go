package apiserver_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestSelfSubjectReview: the server says who it takes the caller for,
// impersonated or not, and the review is create-only.
func TestSelfSubjectReview(t *testing.T) {
	s := apiservertest.Start(t)
	as := rest.CopyConfig(s.Config)
	as.Impersonate = rest.ImpersonationConfig{UserName: "jane", Groups: []string{"devs"}}
	for _, tt := range []struct {
		name       string
		cfg        *rest.Config
		wantUser   string
		wantGroups []string
	}{
		{"plain HTTP is the unsecured admin", s.Config, "system:unsecured", []string{"system:masters", "system:authenticated"}},
		{"impersonated", as, "jane", []string{"devs", "system:authenticated"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs := kubernetes.NewForConfigOrDie(tt.cfg)
			got, err := cs.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			u := got.Status.UserInfo
			if u.Username != tt.wantUser || !slices.Equal(u.Groups, tt.wantGroups) {
				t.Errorf("got %s %v, want %s %v", u.Username, u.Groups, tt.wantUser, tt.wantGroups)
			}
		})
	}
	resp, err := http.Get(s.URL + "/apis/authentication.k8s.io/v1/selfsubjectreviews")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("list: got %d, want 405", resp.StatusCode)
	}
}
