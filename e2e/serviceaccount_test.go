//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// TestServiceAccountTokenInPod: a pod gets its ServiceAccount's token,
// the cluster CA bundle and its namespace at the well-known path, and
// the kubernetes Service's address in its environment, with the variables
// of its namespace's Services (not the headless one's); the token passes
// a TokenReview as the ServiceAccount bound to the pod, authenticates to
// the API, and dies with the pod. A pod that opts out gets no token, and
// without service links only the kubernetes Service's variables.
func TestServiceAccountTokenInPod(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	foo, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "foo-svc"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8765}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless"},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := toolboxPod("with-token", "node1", "sleep 3600", corev1.RestartPolicyAlways)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "FOO_URL", Value: "http://$(FOO_SVC_SERVICE_HOST):$(FOO_SVC_SERVICE_PORT_HTTP)"}}
	created, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Spec.ServiceAccountName != "default" || len(created.Spec.Containers[0].VolumeMounts) != 1 || created.Spec.Containers[0].VolumeMounts[0].MountPath != saDir {
		t.Fatalf("got serviceAccountName %q and mounts %v, want default and the token volume at %s", created.Spec.ServiceAccountName, created.Spec.Containers[0].VolumeMounts, saDir)
	}
	optOut := toolboxPod("without-token", "node2", "sleep 3600", corev1.RestartPolicyAlways)
	optOut.Spec.AutomountServiceAccountToken = ptr(false)
	optOut.Spec.EnableServiceLinks = ptr(false)
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, optOut, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "with-token", corev1.PodRunning, 60*time.Second)
	waitPodPhase(t, ns, "without-token", corev1.PodRunning, 60*time.Second)

	files := map[string]string{}
	for _, f := range []string{"token", "namespace", "ca.crt"} {
		out, err := podExec(ns, "with-token", "toolbox", "cat", saDir+"/"+f)
		if err != nil {
			t.Fatalf("reading %s in the pod: %v (%s)", f, err, out)
		}
		files[f] = out
	}
	if files["namespace"] != ns {
		t.Errorf("got namespace file %q, want %q", files["namespace"], ns)
	}
	root, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if files["ca.crt"] != root.Data["ca.crt"] {
		t.Errorf("got ca.crt %q, want kube-root-ca.crt's %q", files["ca.crt"], root.Data["ca.crt"])
	}
	if out, err := podExec(ns, "without-token", "toolbox", "ls", saDir); err == nil {
		t.Errorf("opted-out pod: got %s listed (%q), want no such directory", saDir, out)
	}

	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env, err := podExec(ns, "with-token", "toolbox", "env")
	if err != nil {
		t.Fatal(err)
	}
	master := []string{
		"KUBERNETES_SERVICE_HOST=" + svc.Spec.ClusterIP,
		fmt.Sprintf("KUBERNETES_SERVICE_PORT=%d", svc.Spec.Ports[0].Port),
		fmt.Sprintf("KUBERNETES_PORT=tcp://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port),
	}
	fooIP := foo.Spec.ClusterIP
	links := []string{
		"FOO_SVC_SERVICE_HOST=" + fooIP,
		"FOO_SVC_SERVICE_PORT=8765",
		"FOO_SVC_SERVICE_PORT_HTTP=8765",
		"FOO_SVC_PORT=tcp://" + fooIP + ":8765",
		"FOO_SVC_PORT_8765_TCP=tcp://" + fooIP + ":8765",
		"FOO_SVC_PORT_8765_TCP_PROTO=tcp",
		"FOO_SVC_PORT_8765_TCP_PORT=8765",
		"FOO_SVC_PORT_8765_TCP_ADDR=" + fooIP,
	}
	for _, want := range append(append(master, links...), "FOO_URL=http://"+fooIP+":8765") {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env of the pod lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "HEADLESS_") {
		t.Errorf("env of the pod has a headless Service's variables:\n%s", env)
	}
	env, err = podExec(ns, "without-token", "toolbox", "env")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range master {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("env of the pod without service links lacks %s:\n%s", want, env)
		}
	}
	if strings.Contains(env, "FOO_SVC_") {
		t.Errorf("env of the pod without service links has its namespace's Service's variables:\n%s", env)
	}

	tok := strings.TrimSpace(files["token"])
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "with-token", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	review, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := review.Status
	wantUser := "system:serviceaccount:" + ns + ":default"
	if !st.Authenticated || st.User.Username != wantUser ||
		strings.Join(st.User.Extra["authentication.kubernetes.io/pod-uid"], ",") != string(p.UID) ||
		strings.Join(st.User.Extra["authentication.kubernetes.io/node-name"], ",") != "node1" {
		t.Fatalf("got TokenReview %+v, want %s bound to pod %s on node1", st, wantUser, p.UID)
	}
	// The lab's address and CA, the pod's token as the only credential.
	podCfg := rest.AnonymousClientConfig(cfg)
	podCfg.BearerToken = tok
	asPod := kubernetes.NewForConfigOrDie(podCfg)
	who, err := asPod.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || who.Status.UserInfo.Username != wantUser {
		t.Fatalf("whoami with the pod's token: got %v, %v; want %s", who, err, wantUser)
	}

	if err := cs.CoreV1().Pods(ns).Delete(ctx, "with-token", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the pod's token refused once the pod is gone", func() error {
		_, err := asPod.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if !apierrors.IsUnauthorized(err) {
			return fmt.Errorf("got %v, want 401", err)
		}
		return nil
	})
}
