package apiserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkList10k lists 10,000 stored pods over HTTP.
func BenchmarkList10k(b *testing.B) {
	s := apiservertest.Start(b)
	st := s.Server.Store()
	ctx := context.Background()
	for i := 0; i < 10000; i++ {
		p := newPod(fmt.Sprintf("pod-%05d", i))
		p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		p.Namespace = "default"
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "1"}}
		if err := st.Create(ctx, storage.Key("pods", "default", p.Name), p); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		resp, err := s.Client.Get(s.URL + "/api/v1/namespaces/default/pods")
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			b.Fatalf("list: got %s, want 200 OK: %s", resp.Status, body)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			b.Fatalf("reading the list: %v", err)
		}
		b.SetBytes(n)
	}
}
