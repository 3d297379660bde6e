package apiserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/storage"
)

// converter is the conformance suite's conversion webhook (agnhost
// crd-conversion-webhook) over TLS: stable.example.com/v1 has
// hostPort "h:p", v2 has host and port. It counts the objects each
// ConversionReview carries, and fails every review while failing is set.
type converter struct {
	srv    *httptest.Server
	caPEM  []byte
	mu     sync.Mutex
	counts []int
	fail   string
}

func startConverter(t *testing.T) *converter {
	t.Helper()
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey("convert.default.svc", []net.IP{net.ParseIP("127.0.0.1")}, []string{"convert.default.svc"})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := &converter{caPEM: certPEM}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
	c.srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	c.srv.StartTLS()
	t.Cleanup(c.srv.Close)
	return c
}

func (c *converter) serve(w http.ResponseWriter, r *http.Request) {
	var review apiextensionsv1.ConversionReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.counts = append(c.counts, len(review.Request.Objects))
	fail := c.fail
	c.mu.Unlock()
	resp := &apiextensionsv1.ConversionResponse{UID: review.Request.UID, Result: metav1.Status{Status: metav1.StatusSuccess}}
	if fail != "" {
		resp.Result = metav1.Status{Status: metav1.StatusFailure, Message: fail}
	}
	for _, raw := range review.Request.Objects {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw.Raw); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		switch review.Request.DesiredAPIVersion {
		case "stable.example.com/v2":
			if hp, ok := u.Object["hostPort"].(string); ok {
				host, port, _ := strings.Cut(hp, ":")
				delete(u.Object, "hostPort")
				u.Object["port"] = port
				if host != "" {
					// No host stays no host: v2 objects survive the
					// round trip through v1.
					u.Object["host"] = host
				}
			}
		case "stable.example.com/v1":
			host, hasHost := u.Object["host"].(string)
			port, hasPort := u.Object["port"].(string)
			if hasHost || hasPort {
				delete(u.Object, "host")
				delete(u.Object, "port")
				u.Object["hostPort"] = host + ":" + port
			}
		}
		u.SetAPIVersion(review.Request.DesiredAPIVersion)
		data, _ := u.MarshalJSON()
		resp.ConvertedObjects = append(resp.ConvertedObjects, runtime.RawExtension{Raw: data})
	}
	review.Response, review.Request = resp, nil
	_ = json.NewEncoder(w).Encode(&review)
}

func (c *converter) reviews() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.counts...)
}

// conversionCRD is the conformance test's definition: v1 (hostPort) and
// v2 (host, port), stored in storage, converted by a webhook.
func conversionCRD(storage string, cc apiextensionsv1.WebhookClientConfig) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "e2es.stable.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "stable.example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "e2es", Singular: "e2e", Kind: "E2e", ListKind: "E2eList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1", Served: true, Storage: storage == "v1", Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"hostPort": {Type: "string"}},
				}}},
				{Name: "v2", Served: true, Storage: storage == "v2", Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"host": {Type: "string"}, "port": {Type: "string"}},
				}}},
			},
			Conversion: &apiextensionsv1.CustomResourceConversion{
				Strategy: apiextensionsv1.WebhookConverter,
				Webhook:  &apiextensionsv1.WebhookConversion{ClientConfig: &cc, ConversionReviewVersions: []string{"v1", "v1beta1"}},
			},
		},
	}
}

var (
	e2eV1 = schema.GroupVersionResource{Group: "stable.example.com", Version: "v1", Resource: "e2es"}
	e2eV2 = schema.GroupVersionResource{Group: "stable.example.com", Version: "v2", Resource: "e2es"}
)

func e2eObject(version, name string, fields map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "stable.example.com/" + version, "kind": "E2e", "metadata": map[string]any{"name": name}}}
	for k, v := range fields {
		u.Object[k] = v
	}
	return u
}

// wantV1 and wantV2 are the conformance test's verifyV1Object and
// verifyV2Object.
func wantV1(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	if got := u.GetAPIVersion(); got != "stable.example.com/v1" {
		t.Errorf("%s: got apiVersion %s, want stable.example.com/v1", u.GetName(), got)
	}
	if got := u.Object["hostPort"]; got != "localhost:8080" {
		t.Errorf("%s: got hostPort %v, want localhost:8080 (object %v)", u.GetName(), got, u.Object)
	}
	if _, ok := u.Object["host"]; ok {
		t.Errorf("%s: got host in a v1 object: %v", u.GetName(), u.Object)
	}
}

func wantV2(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	if got := u.GetAPIVersion(); got != "stable.example.com/v2" {
		t.Errorf("%s: got apiVersion %s, want stable.example.com/v2", u.GetName(), got)
	}
	if u.Object["host"] != "localhost" || u.Object["port"] != "8080" {
		t.Errorf("%s: got host %v port %v, want localhost 8080 (object %v)", u.GetName(), u.Object["host"], u.Object["port"], u.Object)
	}
	if _, ok := u.Object["hostPort"]; ok {
		t.Errorf("%s: got hostPort in a v2 object: %v", u.GetName(), u.Object)
	}
}

// serveConverterService makes the Service convert/default, port 443, whose
// one ready endpoint is the webhook's address. The EndpointSlice is
// written to etcd directly: validation refuses a loopback endpoint, the
// only address a unit test's server has.
func serveConverterService(t *testing.T, ctx context.Context, s *apiservertest.Server, c *converter) {
	t.Helper()
	cs := kubernetes.NewForConfigOrDie(s.Config)
	_, portStr, _ := net.SplitHostPort(c.srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	if _, err := cs.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "convert"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromInt32(int32(port))}}, Selector: map[string]string{"app": "convert"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		TypeMeta:    metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta:  metav1.ObjectMeta{Name: "convert-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: "convert"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(""), Port: ptr.To(int32(port))}},
	}
	if err := s.Server.Store().Create(ctx, storage.Key("endpointslices", "default", "convert-1"), slice); err != nil {
		t.Fatal(err)
	}
}

// TestCustomResourceConversionWebhook is the conformance suite's
// CustomResourceConversionWebhook tests on a webhook reached through a
// Service reference: a v1 object read at v2, and a list of objects stored
// at two versions (the storage version changed between them) read at each
// version, each list in one ConversionReview.
func TestCustomResourceConversionWebhook(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	dyn := dynamic.NewForConfigOrDie(s.Config)
	conv := startConverter(t)
	serveConverterService(t, ctx, s, conv)
	cc := apiextensionsv1.WebhookClientConfig{
		CABundle: conv.caPEM,
		Service:  &apiextensionsv1.ServiceReference{Namespace: "default", Name: "convert", Path: ptr.To("/crdconvert"), Port: ptr.To[int32](443)},
	}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, conversionCRD("v1", cc), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(e2eV2).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal("v2 is not served")
	}
	v1, v2 := dyn.Resource(e2eV1).Namespace("default"), dyn.Resource(e2eV2).Namespace("default")

	// Created at v1, read at v2.
	if _, err := v1.Create(ctx, e2eObject("v1", "cr-instance-1", map[string]any{"hostPort": "localhost:8080"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := v2.Get(ctx, "cr-instance-1", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get at v2: %v", err)
	}
	wantV2(t, got)

	// Created at v2 (converted to v1 to be stored), answered at v2.
	created, err := v2.Create(ctx, e2eObject("v2", "cr-instance-2", map[string]any{"host": "localhost", "port": "8080"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create at v2: %v", err)
	}
	wantV2(t, created)
	got, err = v1.Get(ctx, "cr-instance-2", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get at v1: %v", err)
	}
	wantV1(t, got)

	// The storage version becomes v2; a third object is stored at v2.
	crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "e2es.stable.example.com", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crd.Spec.Versions[0].Storage, crd.Spec.Versions[1].Storage = false, true
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Update(ctx, crd, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		o := e2eObject("v1", "probe", map[string]any{"hostPort": "localhost:8080"})
		if _, err := v1.Create(ctx, o, metav1.CreateOptions{}); err != nil {
			return false, err
		}
		stored := &unstructured.Unstructured{}
		if err := s.Server.Store().Get(ctx, storage.Key("stable.example.com/e2es", "default", "probe"), stored); err != nil {
			return false, err
		}
		if err := v1.Delete(ctx, "probe", metav1.DeleteOptions{}); err != nil {
			return false, err
		}
		return stored.GetAPIVersion() == "stable.example.com/v2", nil
	}); err != nil {
		t.Fatalf("the storage version did not become v2: %v", err)
	}
	if _, err := v1.Create(ctx, e2eObject("v1", "cr-instance-3", map[string]any{"hostPort": "localhost:8080"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		version string
		client  dynamic.ResourceInterface
		want    func(*testing.T, *unstructured.Unstructured)
	}{
		{"v1", v1, wantV1},
		{"v2", v2, wantV2},
	} {
		t.Run("list at "+tt.version, func(t *testing.T) {
			before := len(conv.reviews())
			list, err := tt.client.List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 3 {
				t.Fatalf("got %d items, want 3", len(list.Items))
			}
			for i := range list.Items {
				tt.want(t, &list.Items[i])
			}
			if got := conv.reviews()[before:]; len(got) != 1 {
				t.Errorf("got ConversionReviews of %v objects, want one review for the list", got)
			}
		})
	}

	// An update at v1 of an object stored at v1 while v2 is the storage
	// version: the stored object is converted, the update stored at v2.
	cur, err := v1.Get(ctx, "cr-instance-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.SetLabels(map[string]string{"updated": "yes"})
	if _, err := v1.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update at v1: %v", err)
	}
	stored := &unstructured.Unstructured{}
	if err := s.Server.Store().Get(ctx, storage.Key("stable.example.com/e2es", "default", "cr-instance-1"), stored); err != nil {
		t.Fatal(err)
	}
	wantV2(t, stored)
	if got := stored.GetGeneration(); got != 1 {
		t.Errorf("got generation %d after a labels-only update, want 1", got)
	}

	// A failing webhook: kube-apiserver's 500 with the webhook's message.
	conv.mu.Lock()
	conv.fail = "nope"
	conv.mu.Unlock()
	_, err = v1.Get(ctx, "cr-instance-3", metav1.GetOptions{})
	var status apierrors.APIStatus
	if err == nil || !asStatus(err, &status) || status.Status().Code != http.StatusInternalServerError || !strings.Contains(err.Error(), "conversion webhook for stable.example.com/v2, Kind=E2e failed: nope") {
		t.Errorf("get while the webhook fails: got %v, want a 500 naming the webhook's failure", err)
	}
}

func asStatus(err error, out *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	if ok {
		*out = s
	}
	return ok
}

// TestCustomResourceConversionWebhookURL: a webhook named by URL,
// validation in the request's version's shape, and a webhook that cannot
// be reached, whose create fails with a 500.
func TestCustomResourceConversionWebhookURL(t *testing.T) {
	s := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	dyn := dynamic.NewForConfigOrDie(s.Config)
	conv := startConverter(t)
	cc := apiextensionsv1.WebhookClientConfig{CABundle: conv.caPEM, URL: ptr.To(conv.srv.URL + "/crdconvert")}
	// v2 requires host, which objects stored at v1 do not have: a
	// request at v2 is validated in v2's shape.
	crd := conversionCRD("v1", cc)
	crd.Spec.Versions[1].Schema.OpenAPIV3Schema.Required = []string{"host"}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	v2 := dyn.Resource(e2eV2).Namespace("default")
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := v2.List(ctx, metav1.ListOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal("v2 is not served")
	}
	created, err := v2.Create(ctx, e2eObject("v2", "a", map[string]any{"host": "localhost", "port": "8080"}), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create at v2: %v", err)
	}
	wantV2(t, created)
	_, err = v2.Create(ctx, e2eObject("v2", "no-host", map[string]any{"port": "8080"}), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "host: Required value") {
		t.Errorf("create at v2 without host: got %v, want 422 host: Required value", err)
	}
	conv.srv.Close()
	_, err = v2.Create(ctx, e2eObject("v2", "b", map[string]any{"host": "localhost", "port": "8080"}), metav1.CreateOptions{})
	if got := apierrors.ReasonForError(err); err == nil || !strings.Contains(err.Error(), "conversion webhook for stable.example.com/v2, Kind=E2e failed") {
		t.Errorf("create with the webhook down: got %v (reason %q), want a 500 naming the conversion webhook", err, got)
	}
	if _, err := dyn.Resource(e2eV1).Namespace("default").Get(ctx, "b", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the object whose conversion failed: got %v, want not found", err)
	}
}
