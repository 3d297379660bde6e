package apiserver_test

import (
	"context"
	"strconv"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// resourceVersion and resourceVersionMatch on a list, as client-go's
// reflector and kubectl send them.
func TestListResourceVersion(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, newPod("a"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, newPod("b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rv := first.ResourceVersion
	n, _ := strconv.ParseInt(rv, 10, 64)
	future := strconv.FormatInt(n+1000, 10)

	for _, tt := range []struct {
		name  string
		opts  metav1.ListOptions
		items int
		check func(error) bool
	}{
		{"exact: the list as it was", metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchExact}, 1, nil},
		{"not older than: the latest", metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}, 2, nil},
		{"legacy resourceVersion: not older than", metav1.ListOptions{ResourceVersion: rv}, 2, nil},
		{"any (0)", metav1.ListOptions{ResourceVersion: "0"}, 2, nil},
		{"exact, from the future", metav1.ListOptions{ResourceVersion: future, ResourceVersionMatch: metav1.ResourceVersionMatchExact}, 0, isTooLarge},
		{"not older than the future", metav1.ListOptions{ResourceVersion: future}, 0, isTooLarge},
		{"match without resourceVersion", metav1.ListOptions{ResourceVersionMatch: metav1.ResourceVersionMatchExact}, 0, apierrors.IsInvalid},
		{"exact 0", metav1.ListOptions{ResourceVersion: "0", ResourceVersionMatch: metav1.ResourceVersionMatchExact}, 0, apierrors.IsInvalid},
		{"unknown match", metav1.ListOptions{ResourceVersion: rv, ResourceVersionMatch: "Newest"}, 0, apierrors.IsInvalid},
		{"resourceVersion with continue", metav1.ListOptions{ResourceVersion: rv, Continue: "x"}, 0, apierrors.IsBadRequest},
		{"not a number", metav1.ListOptions{ResourceVersion: "abc"}, 0, apierrors.IsBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := pods.List(ctx, tt.opts)
			if tt.check != nil {
				if !tt.check(err) {
					t.Fatalf("got %v", err)
				}
				return
			}
			if err != nil || len(l.Items) != tt.items {
				t.Fatalf("got %v, %d items, want %d", err, len(l.Items), tt.items)
			}
			if tt.opts.ResourceVersionMatch == metav1.ResourceVersionMatchExact && l.ResourceVersion != rv {
				t.Errorf("exact list at %s says resourceVersion %s", rv, l.ResourceVersion)
			}
		})
	}
}

func isTooLarge(err error) bool {
	return apierrors.IsTimeout(err) && apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge)
}
