package apiserver_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"

	"minik8s/pkg/api"
	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"
)

// The fuzz targets send what a client could send — any body, patch or
// selector — to a real apiserver (embedded etcd, plain HTTP, one per
// fuzzing process) and fail on any answer of 500 or more: bad input must
// be a 4xx with a Status, never a panic (which the server turns into a
// 500) nor an internal error. Run one with, for example,
//
//	go test -run '^$' -fuzz FuzzCreateBody -fuzztime 10m -parallel 1 ./pkg/apiserver/
//
// Without -fuzz, `go test` runs each target on its seeds and on the
// corpus under testdata/fuzz.

// fuzzServer is a plain-HTTP apiserver (every request the unsecured
// admin) and where it listens.
func fuzzServer(f *testing.F) string {
	f.Helper()
	s := apiservertest.StartWith(f, f.TempDir(), func(c *apiserver.Config) {
		c.Listen, c.InsecureListen = nil, []string{"127.0.0.1:0"}
	})
	return s.URL
}

// send makes one request and fails the input on a 5xx answer.
func send(t *testing.T, method, u, contentType string, body []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, bytes.NewReader(body))
	if err != nil {
		return // not a request a client can send
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s (%s, %q): %d %s", method, u, contentType, body, resp.StatusCode, out)
	}
}

func protobufOf(f *testing.F, obj runtime.Object) []byte {
	f.Helper()
	var buf bytes.Buffer
	if err := protobuf.NewSerializer(api.Scheme, api.Scheme).Encode(obj, &buf); err != nil {
		f.Fatal(err)
	}
	return buf.Bytes()
}

var (
	createPaths = []string{
		"/api/v1/namespaces/default/pods",
		"/api/v1/namespaces/default/services",
		"/apis/apps/v1/namespaces/default/deployments",
		"/api/v1/namespaces/default/configmaps",
		"/api/v1/namespaces/default/secrets",
		"/apis/batch/v1/namespaces/default/jobs",
		"/apis/rbac.authorization.k8s.io/v1/clusterroles",
		"/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
		"/api/v1/namespaces",
	}
	contentTypes = []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf", "", "text/plain"}
)

const fuzzPodJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"busybox","ports":[{"containerPort":80}]}]}}`

// FuzzCreateBody: a create of several kinds with any body in JSON, YAML,
// protobuf or no declared type.
func FuzzCreateBody(f *testing.F) {
	base := fuzzServer(f)
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "pb"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	f.Add(uint8(0), uint8(0), []byte(fuzzPodJSON))
	f.Add(uint8(0), uint8(1), []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: y\nspec:\n  containers:\n  - name: c\n    image: busybox\n"))
	f.Add(uint8(0), uint8(2), protobufOf(f, pod))
	f.Add(uint8(1), uint8(0), []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30080}]}}`))
	f.Add(uint8(2), uint8(0), []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":2,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}`))
	f.Add(uint8(3), uint8(0), []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"},"binaryData":{"b":"AAA="}}`))
	f.Add(uint8(4), uint8(1), []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n"))
	f.Add(uint8(6), uint8(0), []byte(`{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"r"},"rules":[{"verbs":["*"],"apiGroups":["*"],"resources":["*"]}],"aggregationRule":{"clusterRoleSelectors":[{"matchExpressions":[{"key":"a","operator":"In","values":[]}]}]}}`))
	f.Add(uint8(7), uint8(0), []byte(`{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"ws.e.com"},"spec":{"group":"e.com","names":{"plural":"ws","kind":"W"},"scope":"Namespaced","versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-validations":[{"rule":"self.a > 1"}]}}}]}}`))
	f.Add(uint8(0), uint8(0), []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"x","resources":{"limits":{"cpu":"1e400"}}}]}}`))
	f.Add(uint8(8), uint8(3), []byte(`{"metadata":{"generateName":"n-"}}`))
	f.Fuzz(func(t *testing.T, path, ctype uint8, body []byte) {
		send(t, http.MethodPost, base+createPaths[int(path)%len(createPaths)], contentTypes[int(ctype)%len(contentTypes)], body)
	})
}

var patchTypes = []string{
	"application/json-patch+json",
	"application/merge-patch+json",
	"application/strategic-merge-patch+json",
	"application/apply-patch+yaml",
	"application/apply-patch+cbor",
}

// FuzzPatch: any patch of any type on an existing pod, Service,
// Deployment and ConfigMap, and on the pod's and Deployment's status and
// scale.
func FuzzPatch(f *testing.F) {
	base := fuzzServer(f)
	for _, o := range []struct{ path, body string }{
		{"/api/v1/namespaces/default/pods", fuzzPodJSON},
		{"/api/v1/namespaces/default/services", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"selector":{"app":"x"},"ports":[{"port":80}]}}`},
		{"/apis/apps/v1/namespaces/default/deployments", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}`},
		{"/api/v1/namespaces/default/configmaps", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}`},
	} {
		resp, err := http.Post(base+o.path, "application/json", bytes.NewReader([]byte(o.body)))
		if err != nil {
			f.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			f.Fatalf("creating %s: %d", o.path, resp.StatusCode)
		}
	}
	targets := []string{
		"/api/v1/namespaces/default/pods/p",
		"/api/v1/namespaces/default/pods/p/status",
		"/api/v1/namespaces/default/services/s",
		"/apis/apps/v1/namespaces/default/deployments/d",
		"/apis/apps/v1/namespaces/default/deployments/d/status",
		"/apis/apps/v1/namespaces/default/deployments/d/scale",
		"/api/v1/namespaces/default/configmaps/c",
	}
	f.Add(uint8(0), uint8(0), []byte(`[{"op":"replace","path":"/metadata/labels/app","value":"y"}]`))
	f.Add(uint8(0), uint8(0), []byte(`[{"op":"move","from":"/spec/containers/0","path":"/spec/containers/1"},{"op":"test","path":"/a~1b","value":null}]`))
	f.Add(uint8(1), uint8(1), []byte(`{"metadata":{"labels":{"x":null}},"spec":{"containers":[{"name":"c","image":"y"}]}}`))
	f.Add(uint8(0), uint8(2), []byte(`{"spec":{"containers":[{"name":"c","$patch":"delete"}],"$setElementOrder/containers":[{"name":"c"}]}}`))
	f.Add(uint8(2), uint8(2), []byte(`{"spec":{"ports":[{"port":80,"$patch":"replace"}],"$retainKeys":["ports"]}}`))
	f.Add(uint8(3), uint8(3), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 3}\n"))
	f.Add(uint8(5), uint8(1), []byte(`{"spec":{"replicas":-1}}`))
	f.Add(uint8(6), uint8(2), []byte(`{"data":{"k":null},"$deleteFromPrimitiveList/finalizers":["a"]}`))
	f.Fuzz(func(t *testing.T, target, ptype uint8, patch []byte) {
		pt := patchTypes[int(ptype)%len(patchTypes)]
		u := base + targets[int(target)%len(targets)]
		if pt == "application/apply-patch+yaml" || pt == "application/apply-patch+cbor" {
			u += "?fieldManager=fuzz"
		}
		send(t, http.MethodPatch, u, pt, patch)
	})
}

// FuzzListSelectors: lists and watches with any label and field
// selector, limit and continue token.
func FuzzListSelectors(f *testing.F) {
	base := fuzzServer(f)
	paths := []string{
		"/api/v1/namespaces/default/pods",
		"/api/v1/pods",
		"/api/v1/nodes",
		"/api/v1/namespaces/default/events",
		"/apis/apps/v1/deployments",
		"/api/v1/secrets",
	}
	f.Add(uint8(0), "app=x,tier!=db", "spec.nodeName=n1", "10", "")
	f.Add(uint8(1), "env in (a,b),!gone", "status.phase!=Running,metadata.name=p", "", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJhIn0")
	f.Add(uint8(2), "a.b/c-d=e_f", "metadata.name==n1", "-1", "x")
	f.Add(uint8(3), "x notin ()", "involvedObject.kind=Pod,reason=Failed", "0", "")
	f.Add(uint8(5), "", "type=kubernetes.io/tls", "1", "")
	f.Fuzz(func(t *testing.T, path uint8, label, field, limit, cont string) {
		q := url.Values{}
		for k, v := range map[string]string{"labelSelector": label, "fieldSelector": field, "limit": limit, "continue": cont} {
			if v != "" {
				q.Set(k, v)
			}
		}
		u := fmt.Sprintf("%s%s?%s", base, paths[int(path)%len(paths)], q.Encode())
		send(t, http.MethodGet, u, "", nil)
	})
}
