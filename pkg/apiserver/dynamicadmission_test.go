package apiserver_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/cert"
	"k8s.io/utils/ptr"
)

// webhookServer is a TLS admission webhook: /validate refuses ConfigMaps
// holding the key "forbidden" and deletes of ConfigMaps named "keep";
// /mutate adds data["mutated"] to ConfigMaps and an init container to
// Pods (with a JSON patch, as agnhost's webhook does). Its certificate
// is for 127.0.0.1 and for the Service hook.webhook-svc.svc.
type webhookServer struct {
	url      string
	caBundle []byte
	port     int32
}

func startWebhookServer(t *testing.T) *webhookServer {
	t.Helper()
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("minik8s-webhook", []net.IP{net.ParseIP("127.0.0.1")}, []string{"hook.webhook-svc.svc"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", reviewHandler(t, validateReview))
	mux.HandleFunc("/mutate", reviewHandler(t, mutateReview))
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
		http.Error(w, "too late", http.StatusServiceUnavailable)
	})
	srv := httptest.NewUnstartedServer(mux)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return &webhookServer{url: srv.URL, caBundle: certPEM, port: int32(p)}
}

func reviewHandler(t *testing.T, decide func(*admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil || review.Request == nil {
			t.Errorf("webhook: undecodable review: %v", err)
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		resp := decide(review.Request)
		resp.UID = review.Request.UID
		review.Response, review.Request = resp, nil
		_ = json.NewEncoder(w).Encode(&review)
	}
}

func validateReview(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	if req.Operation == admissionv1.Connect {
		var opts corev1.PodAttachOptions
		if err := json.Unmarshal(req.Object.Raw, &opts); err != nil || req.SubResource != "attach" || !opts.Stdin || opts.Container != "container1" {
			return &admissionv1.AdmissionResponse{Allowed: true}
		}
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: "attaching to pod '" + req.Name + "' is not allowed"}}
	}
	if req.Kind.Kind == "HorizontalPodAutoscaler" {
		// Which version the webhook was asked about and sent.
		var obj metav1.TypeMeta
		_ = json.Unmarshal(req.Object.Raw, &obj)
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: fmt.Sprintf("kind %s, requested as %s, object %s", req.Kind.Version, req.RequestKind.Version, obj.APIVersion)}}
	}
	if req.Operation == admissionv1.Delete {
		var old corev1.ConfigMap
		if err := json.Unmarshal(req.OldObject.Raw, &old); err != nil || old.Name != "keep" {
			return &admissionv1.AdmissionResponse{Allowed: true}
		}
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: "this configmap stays", Code: http.StatusForbidden}}
	}
	var cm corev1.ConfigMap
	if err := json.Unmarshal(req.Object.Raw, &cm); err != nil {
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: err.Error()}}
	}
	if _, ok := cm.Data["forbidden"]; ok {
		return &admissionv1.AdmissionResponse{Result: &metav1.Status{Message: "the configmap contains unwanted key"}}
	}
	return &admissionv1.AdmissionResponse{Allowed: true}
}

func mutateReview(req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	var patch string
	switch req.Kind.Kind {
	case "ConfigMap":
		patch = `[{"op":"add","path":"/data","value":{"mutated":"yes"}}]`
		var cm corev1.ConfigMap
		if json.Unmarshal(req.Object.Raw, &cm) == nil && len(cm.Data) > 0 {
			patch = `[{"op":"add","path":"/data/mutated","value":"yes"}]`
		}
	case "Pod":
		patch = `[{"op":"add","path":"/spec/initContainers","value":[{"image":"webhook-added-image","name":"webhook-added-init-container","resources":{}}]}]`
	case "Widget":
		// A field the schema does not know, a defaulted one removed.
		patch = `[{"op":"add","path":"/spec/extra","value":true},{"op":"remove","path":"/spec/color"},{"op":"replace","path":"/spec/size","value":3}]`
	default:
		return &admissionv1.AdmissionResponse{Allowed: true}
	}
	pt := admissionv1.PatchTypeJSONPatch
	return &admissionv1.AdmissionResponse{Allowed: true, Patch: []byte(patch), PatchType: &pt}
}

// hookRules: ConfigMaps, Pods and Widgets created, updated and deleted,
// and attaching to Pods, in namespaces labelled webhook=value.
func hookRules(value string) ([]admissionregistrationv1.RuleWithOperations, *metav1.LabelSelector) {
	writes := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete}
	return []admissionregistrationv1.RuleWithOperations{
			{Operations: writes, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps", "pods"}}},
			{Operations: writes, Rule: admissionregistrationv1.Rule{APIGroups: []string{"example.com"}, APIVersions: []string{"*"}, Resources: []string{"widgets"}}},
			{Operations: writes, Rule: admissionregistrationv1.Rule{APIGroups: []string{"autoscaling"}, APIVersions: []string{"v2"}, Resources: []string{"horizontalpodautoscalers"}}},
			{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Connect}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/attach"}}},
		},
		&metav1.LabelSelector{MatchLabels: map[string]string{"webhook": value}}
}

func validatingHook(name, value string, cc admissionregistrationv1.WebhookClientConfig, fp admissionregistrationv1.FailurePolicyType) admissionregistrationv1.ValidatingWebhook {
	rules, sel := hookRules(value)
	return admissionregistrationv1.ValidatingWebhook{
		Name: name, ClientConfig: cc, Rules: rules, NamespaceSelector: sel, FailurePolicy: &fp,
		SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		TimeoutSeconds: ptr.To[int32](5),
	}
}

func labelledNamespace(t *testing.T, cs kubernetes.Interface, name, value string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"webhook": value}}}
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// untilRefused creates a dry-run ConfigMap with data until the
// admission configured by the test refuses it (the plugins see new
// configurations through their informers, a moment after they are
// written), and returns that error.
func untilRefused(t *testing.T, cs kubernetes.Interface, ns string, data map[string]string) error {
	t.Helper()
	var refused error
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "marker-"}, Data: data}
		_, refused = cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return refused != nil, nil
	})
	if err != nil {
		t.Fatalf("ConfigMaps in %s still admitted: the admission configuration never took effect", ns)
	}
	return refused
}

func TestAdmissionWebhooks(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	hook := startWebhookServer(t)
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String() + "/validate"
	ln.Close()

	for _, ns := range []string{"deny", "mutate", "fail-closed", "fail-open", "webhook-svc", "slow"} {
		labelledNamespace(t, cs, ns, ns)
	}
	url := func(u string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: hook.caBundle}
	}
	// The Service hook in webhook-svc, with the webhook server as its
	// ready endpoint: reached through the endpoint, verified for the
	// Service's DNS name.
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: "webhook-svc"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}}}
	if _, err := cs.CoreV1().Services("webhook-svc").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "hook-1", Namespace: "webhook-svc", Labels: map[string]string{discoveryv1.LabelServiceName: "hook"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To(hook.port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices("webhook-svc").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	viaService := admissionregistrationv1.WebhookClientConfig{
		Service:  &admissionregistrationv1.ServiceReference{Namespace: "webhook-svc", Name: "hook", Path: ptr.To("/validate")},
		CABundle: hook.caBundle,
	}

	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "test-validating"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			validatingHook("deny.minik8s.test", "deny", url(hook.url+"/validate"), admissionregistrationv1.Fail),
			validatingHook("fail-closed.minik8s.test", "fail-closed", url(closed), admissionregistrationv1.Fail),
			validatingHook("fail-open.minik8s.test", "fail-open", url(closed), admissionregistrationv1.Ignore),
			validatingHook("service.minik8s.test", "webhook-svc", viaService, admissionregistrationv1.Fail),
			validatingHook("slow.minik8s.test", "slow", url(hook.url+"/slow"), admissionregistrationv1.Fail),
		},
	}
	vwc.Webhooks[len(vwc.Webhooks)-1].TimeoutSeconds = ptr.To[int32](1)
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rules, sel := hookRules("mutate")
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "test-mutating"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.minik8s.test", ClientConfig: url(hook.url + "/mutate"), Rules: rules, NamespaceSelector: sel,
			SideEffects: ptr.To(admissionregistrationv1.SideEffectClassNone), AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ext := apiextensionsclient.NewForConfigOrDie(s.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, widgetCRD(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	forbidden := map[string]string{"forbidden": "x"}
	untilRefused(t, cs, "deny", forbidden)
	untilRefused(t, cs, "webhook-svc", forbidden)
	untilRefused(t, cs, "fail-closed", nil)

	t.Run("denied", func(t *testing.T) {
		for _, ns := range []string{"deny", "webhook-svc"} {
			name := map[string]string{"deny": "deny.minik8s.test", "webhook-svc": "service.minik8s.test"}[ns]
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bad"}, Data: forbidden}
			_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
			want := fmt.Sprintf("admission webhook %q denied the request: the configmap contains unwanted key", name)
			if code := statusCode(err); code != http.StatusBadRequest || err.Error() != want {
				t.Errorf("create in %s: got %d %v, want 400 %q", ns, code, err, want)
			}
		}
	})
	t.Run("update and delete denied", func(t *testing.T) {
		cm, err := cs.CoreV1().ConfigMaps("deny").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data = forbidden
		_, err = cs.CoreV1().ConfigMaps("deny").Update(ctx, cm, metav1.UpdateOptions{})
		if want := `admission webhook "deny.minik8s.test" denied the request: the configmap contains unwanted key`; err == nil || err.Error() != want {
			t.Errorf("update: got %v, want %q", err, want)
		}
		err = cs.CoreV1().ConfigMaps("deny").Delete(ctx, "keep", metav1.DeleteOptions{})
		if want := `admission webhook "deny.minik8s.test" denied the request: this configmap stays`; statusCode(err) != http.StatusForbidden || err.Error() != want {
			t.Errorf("delete: got %d %v, want 403 %q", statusCode(err), err, want)
		}
		if _, err := cs.CoreV1().ConfigMaps("deny").Get(ctx, "keep", metav1.GetOptions{}); err != nil {
			t.Errorf("get after the refused delete: %v", err)
		}
	})
	t.Run("equivalent version", func(t *testing.T) {
		// The rule names autoscaling/v2; a v1 request is shown to the
		// webhook converted (matchPolicy Equivalent, the default).
		hpa := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "hpa"}, Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "d"}, MaxReplicas: 3}}
		_, err := cs.AutoscalingV1().HorizontalPodAutoscalers("deny").Create(ctx, hpa, metav1.CreateOptions{})
		if want := `admission webhook "deny.minik8s.test" denied the request: kind v2, requested as v1, object autoscaling/v2`; fmt.Sprint(err) != want {
			t.Errorf("got %v, want %q", err, want)
		}
	})
	t.Run("failure policy", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}
		_, err := cs.CoreV1().ConfigMaps("fail-closed").Create(ctx, cm, metav1.CreateOptions{})
		if want := `Internal error occurred: failed calling webhook "fail-closed.minik8s.test": failed to call webhook: Post "` + closed; statusCode(err) != http.StatusInternalServerError || !strings.HasPrefix(fmt.Sprint(err), want) {
			t.Errorf("fail closed: got %d %v, want 500 %q…", statusCode(err), err, want)
		}
		if _, err := cs.CoreV1().ConfigMaps("fail-open").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Errorf("fail open: got %v, want the ConfigMap created", err)
		}
	})
	t.Run("mutated", func(t *testing.T) {
		cm, err := cs.CoreV1().ConfigMaps("mutate").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := cm.Data["mutated"]; got != "yes" {
			t.Errorf("created ConfigMap: got data.mutated %q, want yes", got)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "webhook-to-be-mutated"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
		got, err := cs.CoreV1().Pods("mutate").Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Spec.InitContainers) != 1 {
			t.Fatalf("created Pod: got %d init containers, want the webhook's one", len(got.Spec.InitContainers))
		}
		// Defaulted after the mutation, as kube-apiserver does.
		if ic := got.Spec.InitContainers[0]; ic.TerminationMessagePolicy != corev1.TerminationMessageReadFile || ic.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("added init container: got terminationMessagePolicy %q imagePullPolicy %q, want File Always", ic.TerminationMessagePolicy, ic.ImagePullPolicy)
		}
	})
	t.Run("custom resource mutated", func(t *testing.T) {
		dyn := dynamic.NewForConfigOrDie(s.Config)
		w := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": map[string]any{"name": "w"}, "spec": map[string]any{"size": int64(1)}}}
		var got *unstructured.Unstructured
		if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			var err error
			got, err = dyn.Resource(widgetGVR).Namespace("mutate").Create(ctx, w, metav1.CreateOptions{})
			return err == nil, nil
		}); err != nil {
			t.Fatalf("widgets never served: %v", err)
		}
		// Pruned and defaulted after the webhook's patch.
		if spec, _, _ := unstructured.NestedMap(got.Object, "spec"); fmt.Sprint(spec) != "map[color:blue size:3]" {
			t.Errorf("created Widget: got spec %v, want map[color:blue size:3]", spec)
		}
	})
	t.Run("attach denied", func(t *testing.T) {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "to-be-attached-pod"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "container1", Image: "busybox"}}}}
		if _, err := cs.CoreV1().Pods("deny").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		err := cs.CoreV1().RESTClient().Post().Namespace("deny").Resource("pods").Name("to-be-attached-pod").SubResource("attach").
			Param("container", "container1").Param("stdin", "true").Param("stdout", "true").Do(ctx).Error()
		if want := `admission webhook "deny.minik8s.test" denied the request: attaching to pod 'to-be-attached-pod' is not allowed`; statusCode(err) != http.StatusBadRequest || fmt.Sprint(err) != want {
			t.Errorf("got %d %v, want 400 %q", statusCode(err), err, want)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		_, err := cs.CoreV1().ConfigMaps("slow").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
		if want := `failed calling webhook "slow.minik8s.test"`; statusCode(err) != http.StatusInternalServerError || !strings.Contains(fmt.Sprint(err), want) || !strings.Contains(fmt.Sprint(err), "deadline exceeded") {
			t.Errorf("got %d %v, want 500 %q … deadline exceeded", statusCode(err), err, want)
		}
	})
	t.Run("configurations exempt", func(t *testing.T) {
		// Webhooks are never called on webhook configurations: deleting
		// them works whatever they match.
		if err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "test-validating", metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting the validating configuration: %v", err)
		}
	})
}

func TestValidatingAdmissionPolicy(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	labelledNamespace(t, cs, "policed", "policed")
	labelledNamespace(t, cs, "free", "free")
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "small-configmaps"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "!has(object.data) || object.data.size() <= 2", Message: "too much data"}},
		},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "small-configmaps-policed"},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        "small-configmaps",
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources:    &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"webhook": "policed"}}},
		},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	big := map[string]string{"a": "1", "b": "2", "c": "3"}
	untilRefused(t, cs, "policed", big)

	tests := []struct {
		name, ns string
		data     map[string]string
		wantErr  string
	}{
		{name: "refused", ns: "policed", data: big, wantErr: `configmaps "cm" is forbidden: ValidatingAdmissionPolicy 'small-configmaps' with binding 'small-configmaps-policed' denied request: too much data`},
		{name: "small enough", ns: "policed", data: map[string]string{"a": "1"}},
		{name: "not bound", ns: "free", data: big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: tt.data}
			_, err := cs.CoreV1().ConfigMaps(tt.ns).Create(ctx, cm, metav1.CreateOptions{})
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("got %v, want the ConfigMap created", err)
				}
				return
			}
			if statusCode(err) != http.StatusUnprocessableEntity || fmt.Sprint(err) != tt.wantErr {
				t.Errorf("got %d %v, want 422 %q", statusCode(err), err, tt.wantErr)
			}
		})
	}
}

func TestMutatingAdmissionPolicy(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	labelledNamespace(t, cs, "policed", "policed")
	labelledNamespace(t, cs, "free", "free")
	policy := &admissionregistrationv1.MutatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "label-configmaps"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			FailurePolicy:      ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy: admissionregistrationv1.NeverReinvocationPolicy,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
				},
			}}},
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType:          admissionregistrationv1.PatchTypeApplyConfiguration,
				ApplyConfiguration: &admissionregistrationv1.ApplyConfiguration{Expression: `Object{metadata: Object.metadata{labels: {"mutated-by": "policy"}}}`},
			}},
		},
	}
	if _, err := cs.AdmissionregistrationV1().MutatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "label-configmaps-policed"},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName:     "label-configmaps",
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"webhook": "policed"}}},
		},
	}
	if _, err := cs.AdmissionregistrationV1().MutatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		cm, err := cs.CoreV1().ConfigMaps("policed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "marker-"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && cm.Labels["mutated-by"] == "policy", nil
	}); err != nil {
		t.Fatal("ConfigMaps in policed never labelled: the policy never took effect")
	}
	for _, tt := range []struct{ ns, want string }{{"policed", "policy"}, {"free", ""}} {
		cm, err := cs.CoreV1().ConfigMaps(tt.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := cm.Labels["mutated-by"]; got != tt.want {
			t.Errorf("ConfigMap in %s: got label mutated-by %q, want %q", tt.ns, got, tt.want)
		}
	}
}

func statusCode(err error) int32 {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		return st.Status().Code
	}
	return 0
}
