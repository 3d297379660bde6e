//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/cert"
)

// TestAdmissionWebhookInPod: an admission webhook served by a pod behind
// a Service, called by service reference as Kubernetes' AdmissionWebhook
// conformance tests call agnhost's: the apiserver, in the lab's root
// namespace, reaches it through the Service's ready endpoint (a pod IP,
// routed via its node), verifies its certificate for the Service's DNS
// name with the caBundle, and a validating webhook refuses a ConfigMap
// while a mutating one changes another.
func TestAdmissionWebhookInPod(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "webhook")
	build := exec.Command("go", "build", "-o", bin, "./testdata/webhook")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/webhook: %v\n%s", err, out)
	}
	certPEM, keyPEM, err := cert.GenerateSelfSignedCertKey("e2e-webhook", nil, []string{"webhook." + ns + ".svc"})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace selector of the configurations: this test's only.
	nsObj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nsObj.Labels == nil {
		nsObj.Labels = map[string]string{}
	}
	nsObj.Labels["e2e-webhook"] = ns
	if _, err := cs.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	file := corev1.HostPathFile
	pod := toolboxPod("webhook", "node2", "", corev1.RestartPolicyAlways)
	pod.Labels = map[string]string{"app": "webhook"}
	c := &pod.Spec.Containers[0]
	c.Command = []string{"/webhook"}
	c.Env = []corev1.EnvVar{{Name: "TLS_CERT", Value: string(certPEM)}, {Name: "TLS_KEY", Value: string(keyPEM)}}
	c.Ports = []corev1.ContainerPort{{Name: "https", ContainerPort: 8443}}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8443)}}, PeriodSeconds: 1}
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "bin", MountPath: "/webhook", ReadOnly: true})
	pod.Spec.Volumes = []corev1.Volume{{Name: "bin", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: bin, Type: &file}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "webhook"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "webhook"},
		Ports:    []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)}},
	}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the webhook pod ready", func() error {
		pods, err := readyPods(ns, "app=webhook")
		if err == nil && len(pods) == 0 {
			err = fmt.Errorf("not ready")
		}
		return err
	})

	ref := func(path string) admissionregistrationv1.WebhookClientConfig {
		return admissionregistrationv1.WebhookClientConfig{
			Service:  &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "webhook", Path: &path, Port: ptr(int32(443))},
			CABundle: certPEM,
		}
	}
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}},
	}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"e2e-webhook": ns}}
	none := admissionregistrationv1.SideEffectClassNone
	fail := admissionregistrationv1.Fail
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "deny.e2e.minik8s", ClientConfig: ref("/validate"), Rules: rules, NamespaceSelector: sel,
			SideEffects: &none, FailurePolicy: &fail, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: ns},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.e2e.minik8s", ClientConfig: ref("/mutate"), Rules: rules, NamespaceSelector: sel,
			SideEffects: &none, FailurePolicy: &fail, AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})

	// The configurations take effect once the apiserver's informers have
	// them: until then ConfigMaps go through unchanged.
	want := `admission webhook "deny.e2e.minik8s" denied the request: the configmap contains unwanted key`
	eventually(t, 30*time.Second, "the validating webhook refuses", func() error {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "marker-"}, Data: map[string]string{"forbidden": "x"}}
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || err.Error() != want {
			return fmt.Errorf("got %v, want %q", err, want)
		}
		return nil
	})
	eventually(t, 30*time.Second, "the mutating webhook changes", func() error {
		cm, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "mutated-"}}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return err
		}
		if cm.Data["mutated"] != "yes" {
			return fmt.Errorf("got data %v, want mutated=yes", cm.Data)
		}
		return nil
	})
}
