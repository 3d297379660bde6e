package apiserver_test

import (
	"context"
	"fmt"
	"mime"
	"net/http"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	restwatch "k8s.io/client-go/rest/watch"
)

// A client that prefers protobuf (as client-go's typed clients do) gets the
// watch stream in Kubernetes' protobuf framing, decodable by client-go's own
// decoder; one that asks for JSON, or for protobuf only as a
// PartialObjectMetadata view, gets JSON lines.
func TestWatchProtobuf(t *testing.T) {
	s := apiservertest.Start(t)
	pods := clientset(t, s).CoreV1().Pods("default")
	for i := range 2 {
		if _, err := pods.Create(context.Background(), newPod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	const path = "/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&timeoutSeconds=5"

	tests := []struct {
		name, accept, wantType string
	}{
		{"client-go", "application/vnd.kubernetes.protobuf,application/json", "application/vnd.kubernetes.protobuf;stream=watch"},
		{"json", "application/json", "application/json"},
		{"no accept", "", "application/json"},
		{"protobuf metadata view", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+path, nil)
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Type"); got != tt.wantType {
				t.Fatalf("Content-Type: got %q, want %q", got, tt.wantType)
			}
			mt, _, _ := mime.ParseMediaType(tt.wantType)
			info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mt)
			if !ok {
				t.Fatalf("no client serializer for %q", tt.wantType)
			}
			frames := info.StreamSerializer.Framer.NewFrameReader(resp.Body)
			dec := restwatch.NewDecoder(streaming.NewDecoder(frames, info.StreamSerializer.Serializer), scheme.Codecs.UniversalDeserializer())
			defer dec.Close()
			for i := range 2 {
				typ, obj, err := dec.Decode()
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				p, ok := obj.(*corev1.Pod)
				if typ != watch.Added || !ok || p.Name != fmt.Sprintf("p%d", i) || p.ResourceVersion == "" || p.Spec.Containers[0].Image != "minik8s/echo:latest" {
					t.Fatalf("event %d: got %s %#v, want ADDED pod p%d with its spec and resourceVersion", i, typ, obj, i)
				}
			}
			typ, obj, err := dec.Decode()
			if err != nil {
				t.Fatal(err)
			}
			if p, ok := obj.(*corev1.Pod); typ != watch.Bookmark || !ok || p.Annotations["k8s.io/initial-events-end"] != "true" {
				t.Fatalf("got %s %#v, want the initial-events-end bookmark", typ, obj)
			}
		})
	}
}
