package apiserver_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
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

// Upstream's chunking conformance spec in small: a continue token whose
// revision was compacted is 410 with an inconsistent continue token in
// the Status' metadata; listing with it goes on from the same key at the
// latest revision, with remainingItemCount adding up.
func TestListContinueAfterCompaction(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	templates := cs.CoreV1().PodTemplates("default")
	const total, limit = 12, 4
	for i := 0; i < total; i++ {
		pt := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("template-%04d", i)},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}
		if _, err := templates.Create(ctx, pt, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := templates.List(ctx, metav1.ListOptions{Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if first.RemainingItemCount == nil || int(*first.RemainingItemCount)+len(first.Items) != total {
		t.Fatalf("first page: remaining %v with %d items, want %d in all", first.RemainingItemCount, len(first.Items), total)
	}
	// A write after the first page, so that the compaction drops its revision.
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cur, err := s.Server.Store().CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Server.Store().Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	_, err = templates.List(ctx, metav1.ListOptions{Limit: limit, Continue: first.Continue})
	status, ok := err.(apierrors.APIStatus)
	if !apierrors.IsResourceExpired(err) || !ok || status.Status().ListMeta.Continue == "" {
		t.Fatalf("compacted continue: got %v, want 410 Expired with a continue token", err)
	}

	found := limit
	token := status.Status().ListMeta.Continue
	var rv string
	for token != "" {
		page, err := templates.List(ctx, metav1.ListOptions{Limit: limit, Continue: token})
		if err != nil {
			t.Fatal(err)
		}
		if page.ResourceVersion == first.ResourceVersion {
			t.Errorf("the inconsistent list is at the first page's resourceVersion %s", first.ResourceVersion)
		}
		if rv != "" && page.ResourceVersion != rv {
			t.Errorf("page at resourceVersion %s, want the inconsistent list's %s", page.ResourceVersion, rv)
		}
		rv = page.ResourceVersion
		if page.Continue == "" && page.RemainingItemCount != nil {
			t.Errorf("last page has remainingItemCount %d", *page.RemainingItemCount)
		}
		if page.Continue != "" && (page.RemainingItemCount == nil || int(*page.RemainingItemCount)+len(page.Items)+found != total) {
			t.Errorf("page after %d: remaining %v with %d items, want %d in all", found, page.RemainingItemCount, len(page.Items), total)
		}
		for _, item := range page.Items {
			if want := fmt.Sprintf("template-%04d", found); item.Name != want {
				t.Fatalf("got %s, want %s", item.Name, want)
			}
			found++
		}
		token = page.Continue
	}
	if found != total {
		t.Errorf("listed %d templates, want %d", found, total)
	}
}
