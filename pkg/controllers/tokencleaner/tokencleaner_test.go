package tokencleaner

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func token(id string, expires time.Time) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: metav1.NamespaceSystem},
		Type:       corev1.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			"token-id": []byte(id), "token-secret": []byte("0123456789abcdef"),
			"expiration": []byte(expires.UTC().Format(time.RFC3339)),
		},
	}
}

// TestCleansExpiredTokens: an expired bootstrap token is deleted; a valid
// one and an expired-looking Secret of another type stay.
func TestCleansExpiredTokens(t *testing.T) {
	other := token("other0", time.Now().Add(-time.Hour))
	other.Type = corev1.SecretTypeOpaque
	cs := fake.NewClientset(token("expird", time.Now().Add(-time.Minute)), token("valid0", time.Now().Add(time.Hour)), other)
	factory := informers.NewSharedInformerFactory(cs, 0)
	c, err := New(cs, factory)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx, 1) }()
	defer func() { cancel(); <-done; factory.Shutdown() }()
	exists := func(name string) bool {
		_, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
		return !apierrors.IsNotFound(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return !exists("bootstrap-token-expird"), nil
	}); err != nil {
		t.Fatal("the expired token was never deleted")
	}
	for _, name := range []string{"bootstrap-token-valid0", "bootstrap-token-other0"} {
		if !exists(name) {
			t.Errorf("%s: deleted, want kept", name)
		}
	}
}
