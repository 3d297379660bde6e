package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"minik8s/pkg/apiserver/apiservertest"
)

const webYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: echo
        image: minik8s/echo:latest
        env:
        - {name: GREETING, value: hello}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
`

// cluster is one real API server and a way to run ctl against it.
type cluster struct {
	t      *testing.T
	server string
	// kubeconfig is the admin's, which ctl is given; ca is the cluster
	// CA, for clients of other identities.
	kubeconfig string
	ca         []byte
	client     kubernetes.Interface
	dir        string
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	isolate(t)
	s := apiservertest.Start(t)
	client, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &cluster{t: t, server: s.URL, kubeconfig: s.Kubeconfig, ca: s.Config.CAData, client: client, dir: t.TempDir()}
}

// ctl runs ctl against the cluster and fails the test if it fails.
func (c *cluster) ctl(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.try(args...)
	if err != nil {
		c.t.Fatalf("ctl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (c *cluster) try(args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	return c.tryIn("", args...)
}

func (c *cluster) tryIn(stdin string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	if stdin != "" {
		// kubectl's resource builder reads "-f -" from os.Stdin itself.
		f, err := os.Open(c.file("stdin", stdin))
		if err != nil {
			c.t.Fatal(err)
		}
		defer f.Close()
		saved := os.Stdin
		os.Stdin = f
		defer func() { os.Stdin = saved }()
	}
	return runCtl(c.t, stdin, append(args, "--kubeconfig", c.kubeconfig)...)
}

func (c *cluster) file(name, content string) string {
	c.t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	if g, w := strings.TrimSpace(got), strings.Join(want, "\n"); g != w {
		t.Errorf("got output\n%s\nwant\n%s", g, w)
	}
}

func TestApply(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	path := c.file("web.yaml", webYAML)

	wantLines(t, c.ctl("apply", "-f", path), "deployment.apps/web created", "service/web created")
	wantLines(t, c.ctl("apply", "-f", path), "deployment.apps/web unchanged", "service/web unchanged")

	// A field removed from the file is removed from the object (the
	// last-applied annotation's three-way patch), here read from stdin.
	without := strings.Replace(webYAML, "        env:\n        - {name: GREETING, value: hello}\n", "", 1)
	out, errOut, err := c.tryIn(without, "apply", "-f", "-")
	if err != nil {
		t.Fatalf("apply -f -: %v: %s", err, errOut)
	}
	wantLines(t, out, "deployment.apps/web configured", "service/web unchanged")
	d, err := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if env := d.Spec.Template.Spec.Containers[0].Env; len(env) != 0 {
		t.Errorf("got env %v after apply without it, want none", env)
	}

	// A directory with a List and a second file.
	dir := filepath.Join(c.dir, "manifests")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	list := "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: l1}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: l2}\n"
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(list), 0o644)
	os.WriteFile(filepath.Join(dir, "b.yaml"), []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: l3}\n"), 0o644)
	wantLines(t, c.ctl("apply", "-f", dir), "namespace/l1 created", "namespace/l2 created", "namespace/l3 created")
}

// kubectl's server-side apply through ctl: created with kubectl's
// managedFields; a field another manager owns is a conflict that says how
// to go on, and --force-conflicts takes it.
func TestApplyServerSide(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	path := c.file("web.yaml", webYAML)

	wantLines(t, c.ctl("apply", "--server-side", "-f", path), "deployment.apps/web serverside-applied", "service/web serverside-applied")
	d, err := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.ManagedFields) != 1 || d.ManagedFields[0].Manager != "kubectl" || d.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managedFields after ctl apply --server-side: %+v", d.ManagedFields)
	}

	// Another manager's apply of replicas conflicts with kubectl's, and
	// the message says how to go on; --force-conflicts takes the field.
	replicas := c.file("replicas.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 5}\n")
	_, errOut, err := c.try("apply", "--server-side", "--field-manager=ops", "-f", replicas)
	if err == nil || !strings.Contains(errOut, `conflict with "kubectl": .spec.replicas`) || !strings.Contains(errOut, "--force-conflicts") {
		t.Fatalf("apply over kubectl's replicas: err %v, stderr %s", err, errOut)
	}
	c.ctl("apply", "--server-side", "--field-manager=ops", "--force-conflicts", "-f", replicas)
	if d, _ := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{}); *d.Spec.Replicas != 5 {
		t.Errorf("replicas after ops forced them: %d, want 5", *d.Spec.Replicas)
	}
	three := c.file("web3.yaml", strings.Replace(webYAML, "replicas: 2", "replicas: 3", 1))
	if _, errOut, err = c.try("apply", "--server-side", "-f", three); err == nil || !strings.Contains(errOut, `conflict with "ops"`) {
		t.Fatalf("apply over ops' replicas: err %v, stderr %s", err, errOut)
	}
	c.ctl("apply", "--server-side", "--force-conflicts", "-f", three)
	if d, _ := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{}); *d.Spec.Replicas != 3 {
		t.Errorf("replicas after --force-conflicts: %d, want 3", *d.Spec.Replicas)
	}
}

func TestCreate(t *testing.T) {
	c := startCluster(t)
	wantLines(t, c.ctl("create", "namespace", "demo"), "namespace/demo created")
	wantLines(t, c.ctl("create", "deployment", "d1", "--image=minik8s/echo", "--replicas=3", "-n", "demo"), "deployment.apps/d1 created")
	d, err := c.client.AppsV1().Deployments("demo").Get(context.Background(), "d1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 || d.Spec.Template.Spec.Containers[0].Image != "minik8s/echo" {
		t.Errorf("got replicas %d image %s, want 3 minik8s/echo", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image)
	}
	wantLines(t, c.ctl("create", "-f", c.file("web.yaml", webYAML)), "deployment.apps/web created", "service/web created")
	_, errOut, err := c.try("create", "-f", c.file("web.yaml", webYAML))
	if err == nil || !strings.Contains(errOut, `deployments.apps "web" already exists`) {
		t.Errorf("second create: got err %v, stderr %q, want AlreadyExists", err, errOut)
	}
}

// TestCreateNewKinds: kubectl's generators for the kinds served through
// Kubernetes' strategies, and the server's verdict on a bad one.
func TestCreateNewKinds(t *testing.T) {
	c := startCluster(t)
	wantLines(t, c.ctl("create", "configmap", "cfg", "--from-literal=a=b"), "configmap/cfg created")
	wantLines(t, c.ctl("create", "secret", "generic", "pw", "--from-literal=p=q"), "secret/pw created")
	wantLines(t, c.ctl("create", "serviceaccount", "robot"), "serviceaccount/robot created")
	wantLines(t, c.ctl("create", "job", "once", "--image=minik8s/echo"), "job.batch/once created")
	wantLines(t, c.ctl("create", "role", "reader", "--verb=get", "--resource=pods"), "role.rbac.authorization.k8s.io/reader created")
	_, errOut, err := c.try("create", "cronjob", "bad", "--image=minik8s/echo", "--schedule=nope")
	if err == nil || !strings.Contains(errOut, `spec.schedule: Invalid value: "nope"`) {
		t.Errorf("bad schedule: got err %v, stderr %q, want the field path", err, errOut)
	}
	out := c.ctl("get", "jobs")
	if !strings.Contains(out, "COMPLETIONS") || !strings.Contains(out, "once") {
		t.Errorf("get jobs: got %q, want kubectl's columns and the job", out)
	}
}

// TestExplain: ctl explain reads the server's OpenAPI v3 schemas.
func TestExplain(t *testing.T) {
	c := startCluster(t)
	out := c.ctl("explain", "deployment.spec.strategy")
	for _, want := range []string{"KIND:       Deployment", "FIELD: strategy <DeploymentStrategy>", "rollingUpdate"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain deployment.spec.strategy: no %q in\n%s", want, out)
		}
	}
	if out := c.ctl("explain", "cronjob.spec.schedule"); !strings.Contains(out, "FIELD: schedule <string>") {
		t.Errorf("explain cronjob.spec.schedule: got\n%s", out)
	}
}

func TestGet(t *testing.T) {
	c := startCluster(t)
	c.ctl("apply", "-f", c.file("web.yaml", webYAML))

	tests := []struct {
		args []string
		want []string // substrings, in order
	}{
		{[]string{"get", "deploy"}, []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "\nweb", "0/2"}},
		{[]string{"get", "deployments.apps", "web", "-o", "wide"}, []string{"CONTAINERS", "IMAGES", "SELECTOR", "echo", "minik8s/echo:latest", "app=web"}},
		{[]string{"get", "deploy", "web", "-o", "yaml"}, []string{"apiVersion: apps/v1", "kind: Deployment", "name: web", "replicas: 2"}},
		{[]string{"get", "deploy", "web", "-o", "name"}, []string{"deployment.apps/web"}},
		{[]string{"get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"}, []string{"2 minik8s/echo:latest"}},
		{[]string{"get", "svc", "web"}, []string{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "web", "ClusterIP", "80/TCP"}},
		{[]string{"get", "svc", "-A"}, []string{"NAMESPACE", "default", "kubernetes", "default", "web"}},
		{[]string{"get", "deploy,svc", "-l", "app=web", "-o", "name"}, []string{"deployment.apps/web"}},
		{[]string{"get", "ns"}, []string{"default", "kube-node-lease", "kube-public", "kube-system"}},
		{[]string{"get", "ep", "kubernetes"}, []string{"ENDPOINTS", "kubernetes"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := c.ctl(tt.args...)
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("got output\n%s\nwant it to contain %q (in order %q)", out, w, tt.want)
				}
				rest = rest[i+len(w):]
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		var d appsv1.Deployment
		if err := json.Unmarshal([]byte(c.ctl("get", "deploy", "web", "-o", "json")), &d); err != nil {
			t.Fatal(err)
		}
		if d.Name != "web" || *d.Spec.Replicas != 2 {
			t.Errorf("got %s with %d replicas, want web with 2", d.Name, *d.Spec.Replicas)
		}
	})
	t.Run("short names", func(t *testing.T) {
		for _, short := range []string{"po", "rs", "deploy", "svc", "ep", "no", "ns", "ev"} {
			if _, errOut, err := c.try("get", short); err != nil {
				t.Errorf("get %s: %v: %s", short, err, errOut)
			}
		}
	})
	t.Run("not found", func(t *testing.T) {
		_, errOut, err := c.try("get", "deploy", "nope")
		if want := `Error from server (NotFound): deployments.apps "nope" not found`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("got err %v, stderr %q, want %q", err, errOut, want)
		}
	})
	t.Run("unknown resource", func(t *testing.T) {
		_, errOut, err := c.try("get", "widgets")
		if want := `the server doesn't have a resource type "widgets"`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("got err %v, stderr %q, want %q", err, errOut, want)
		}
	})
}

// syncBuffer is written by a command still running in the background.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestGetWatch(t *testing.T) {
	c := startCluster(t)
	c.ctl("apply", "-f", c.file("web.yaml", webYAML))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	cmd := NewCommandWithStreams(ctx, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{"get", "deploy", "-w", "--kubeconfig", c.kubeconfig})
	done := make(chan error, 1)
	go func() { done <- cmd.Execute() }()

	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("get -w: %q never appeared; stdout:\n%s\nstderr:\n%s", what, out.String(), errOut.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("0/2")
	c.ctl("scale", "deploy", "web", "--replicas=7")
	waitFor("0/7")
	c.ctl("create", "deployment", "second", "--image=minik8s/echo")
	waitFor("second")
	cancel()
	if err := <-done; ExitCode(err) != 130 {
		t.Errorf("got %v (exit %d) after interrupt, want exit 130", err, ExitCode(err))
	}
}

func TestDescribeWithEvents(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	c.ctl("apply", "-f", c.file("web.yaml", webYAML))
	d, err := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	_, err = c.client.CoreV1().Events("default").Create(ctx, &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "web.1", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Deployment", APIVersion: "apps/v1", Namespace: "default", Name: "web", UID: d.UID,
		},
		Reason: "ScalingReplicaSet", Message: "Scaled up replica set web-abc to 2", Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: "deployment-controller"}, Count: 1,
		FirstTimestamp: now, LastTimestamp: now,
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := c.ctl("describe", "deployment", "web")
	for _, want := range []string{
		"Name:                   web", "Replicas:               2 desired", "StrategyType:           RollingUpdate",
		"minik8s/echo:latest", "Events:", "ScalingReplicaSet", "deployment-controller", "Scaled up replica set web-abc to 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("describe output lacks %q:\n%s", want, out)
		}
	}
	_, errOut, err := c.try("describe", "deployment", "nope")
	if err == nil || !strings.Contains(errOut, `deployments.apps "nope" not found`) {
		t.Errorf("describe of a missing object: got %v, %q", err, errOut)
	}
}

func pod(name string, labels map[string]string, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "c", Image: "minik8s/toolbox"}},
		},
	}
}

func TestDelete(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	for _, p := range []*corev1.Pod{
		pod("a1", map[string]string{"app": "a"}, ""),
		pod("a2", map[string]string{"app": "a"}, ""),
		pod("b1", map[string]string{"app": "b"}, ""),
	} {
		if _, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	wantLines(t, c.ctl("delete", "pods", "-l", "app=a"), `pod "a1" deleted from default namespace`, `pod "a2" deleted from default namespace`)
	pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != "b1" {
		t.Errorf("got %d pods left, want only b1", len(pods.Items))
	}
	wantLines(t, c.ctl("delete", "pod", "b1", "--wait=false"), `pod "b1" deleted from default namespace`)

	path := c.file("web.yaml", webYAML)
	c.ctl("apply", "-f", path)
	wantLines(t, c.ctl("delete", "-f", path),
		`deployment.apps "web" deleted from default namespace`, `service "web" deleted from default namespace`)
	if _, err := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("got %v after delete, want NotFound", err)
	}

	// --cascade=orphan asks the garbage collector (not running here) to
	// orphan the dependents: the object waits with the orphan finalizer.
	c.ctl("apply", "-f", path)
	wantLines(t, c.ctl("delete", "deployment", "web", "--cascade=orphan", "--wait=false"), `deployment.apps "web" deleted from default namespace`)
	d, err := c.client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.DeletionTimestamp == nil || len(d.Finalizers) != 1 || d.Finalizers[0] != metav1.FinalizerOrphanDependents {
		t.Errorf("got deletionTimestamp %v finalizers %v, want orphan", d.DeletionTimestamp, d.Finalizers)
	}
	_, errOut, err := c.try("delete", "pod", "gone")
	if err == nil || !strings.Contains(errOut, `pods "gone" not found`) {
		t.Errorf("delete of a missing pod: got %v, %q", err, errOut)
	}
}

func TestScale(t *testing.T) {
	c := startCluster(t)
	c.ctl("apply", "-f", c.file("web.yaml", webYAML))
	wantLines(t, c.ctl("scale", "deployment", "web", "--replicas=4"), "deployment.apps/web scaled")
	d, err := c.client.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 4 {
		t.Errorf("got %d replicas, want 4", *d.Spec.Replicas)
	}
	_, errOut, err := c.try("scale", "deployment", "web", "--replicas=1", "--current-replicas=3")
	if err == nil || !strings.Contains(errOut, "Expected replicas to be 3, was 4") {
		t.Errorf("scale with a wrong precondition: got %v, %q", err, errOut)
	}
}

func TestErrors(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		manifest string
		want     string
	}{
		{
			name: "invalid",
			manifest: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n  replicas: -1\n  selector:\n    matchLabels: {app: bad}\n" +
				"  template:\n    metadata:\n      labels: {app: bad}\n    spec:\n      containers:\n      - {name: c, image: x}\n",
			want: `The Deployment "bad" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`,
		},
		{
			name:     "yaml syntax",
			manifest: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bad\n  labels: [a\n",
			want:     "yaml: line 5: did not find expected ',' or ']'",
		},
		{
			name:     "yaml syntax in the second document",
			manifest: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: fine\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bad\n   labels: x\n",
			want:     "yaml: line 10 (line 5 of 2nd document): mapping values are not allowed in this context",
		},
		{
			name:     "unknown kind",
			manifest: "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: bad\n",
			// kubectl's own words: the kind may be a CRD not installed yet.
			want: `no matches for kind "Widget" in version "example.com/v1"` + "\nensure CRDs are installed first",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, verb := range []string{"apply", "create"} {
				_, errOut, err := c.try(verb, "-f", c.file(tt.name+".yaml", tt.manifest))
				if err == nil || ExitCode(err) == 0 {
					t.Errorf("%s: got no error, want one", verb)
				}
				if !strings.Contains(errOut, tt.want) {
					t.Errorf("%s: got stderr %q, want it to contain %q", verb, errOut, tt.want)
				}
			}
		})
	}
	if _, err := c.client.AppsV1().Deployments("default").Get(ctx, "bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("invalid deployment: got %v, want it not stored", err)
	}
	if _, err := c.client.CoreV1().Namespaces().Get(ctx, "bad", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace with bad YAML: got %v, want it not stored", err)
	}
}

func TestWarningHeaders(t *testing.T) {
	c := startCluster(t)
	_, errOut, err := c.try("apply", "--validate=warn", "-f", c.file("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: wx\nspec:\n  foo: 1\n"))
	if err != nil {
		t.Fatalf("apply: %v: %s", err, errOut)
	}
	if want := `Warning: unknown field "spec.foo"`; !strings.Contains(errOut, want) {
		t.Errorf("got stderr %q, want %q", errOut, want)
	}
}

func TestVersion(t *testing.T) {
	c := startCluster(t)
	out := c.ctl("version")
	if !strings.Contains(out, "Client Version: v1.") || !strings.Contains(out, "Server Version: v1.") {
		t.Errorf("got %q, want client and server versions", out)
	}
	var info VersionInfo
	if err := json.Unmarshal([]byte(c.ctl("version", "-o", "json")), &info); err != nil || info.ServerVersion == nil {
		t.Errorf("version -o json: %v, %+v", err, info)
	}
}

func TestNodeVerbs(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}},
	}
	if _, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	getNode := func() *corev1.Node {
		n, err := c.client.CoreV1().Nodes().Get(ctx, "node1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	wantLines(t, c.ctl("label", "node", "node1", "zone=a"), "node/node1 labeled")
	if _, errOut, err := c.try("label", "node", "node1", "zone=b"); err == nil || !strings.Contains(errOut, "'zone' already has a value (a), and --overwrite is false") {
		t.Errorf("label without --overwrite: got %v, %q", err, errOut)
	}
	c.ctl("label", "node", "node1", "zone=b", "--overwrite")
	if got := getNode().Labels["zone"]; got != "b" {
		t.Errorf("got zone=%q, want b", got)
	}
	wantLines(t, c.ctl("label", "node", "node1", "zone-"), "node/node1 unlabeled")

	wantLines(t, c.ctl("taint", "nodes", "node1", "dedicated=db:NoSchedule"), "node/node1 tainted")
	if taints := getNode().Spec.Taints; len(taints) != 1 || taints[0].Key != "dedicated" || taints[0].Value != "db" || taints[0].Effect != corev1.TaintEffectNoSchedule {
		t.Errorf("got taints %v, want dedicated=db:NoSchedule", taints)
	}
	wantLines(t, c.ctl("taint", "nodes", "node1", "dedicated=db:NoSchedule-"), "node/node1 untainted")
	if taints := getNode().Spec.Taints; len(taints) != 0 {
		t.Errorf("got taints %v, want none", taints)
	}
	if _, errOut, err := c.try("taint", "nodes", "node1", "dedicated=db:Sometimes"); err == nil || !strings.Contains(errOut, "invalid taint effect") {
		t.Errorf("bad taint effect: got %v, %q", err, errOut)
	}

	wantLines(t, c.ctl("cordon", "node1"), "node/node1 cordoned")
	if out := c.ctl("get", "no"); !strings.Contains(out, "Ready,SchedulingDisabled") {
		t.Errorf("get no after cordon: %q, want SchedulingDisabled", out)
	}
	wantLines(t, c.ctl("uncordon", "node1"), "node/node1 uncordoned")
	if getNode().Spec.Unschedulable {
		t.Errorf("node still unschedulable after uncordon")
	}

	// drain: refuses a bare pod without --force, deletes it with it.
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, pod("bare", nil, "node1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := c.try("drain", "node1", "--timeout=10s")
	if err == nil || !strings.Contains(errOut, "cannot delete Pods that declare no controller (use --force to override): default/bare") {
		t.Errorf("drain without --force: got %v, %q", err, errOut)
	}
	out := c.ctl("drain", "node1", "--force", "--ignore-daemonsets", "--grace-period=0", "--timeout=20s")
	if !strings.Contains(out, "node/node1 drained") {
		t.Errorf("drain --force: got %q, want node/node1 drained", out)
	}
	if _, err := c.client.CoreV1().Pods("default").Get(ctx, "bare", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("bare pod after drain: %v, want NotFound", err)
	}
	if !getNode().Spec.Unschedulable {
		t.Errorf("node schedulable after drain, want cordoned")
	}
}

// TestCreateToken: ctl create token asks the server for a token of the
// ServiceAccount, which then authenticates as it; a missing one is an
// error with the server's message.
func TestCreateToken(t *testing.T) {
	c := startCluster(t)
	c.ctl("create", "serviceaccount", "robot")
	tok := strings.TrimSpace(c.ctl("create", "token", "robot", "--duration", "15m"))
	cs := kubernetes.NewForConfigOrDie(&rest.Config{Host: c.server, BearerToken: tok, TLSClientConfig: rest.TLSClientConfig{CAData: c.ca}})
	who, err := cs.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil || who.Status.UserInfo.Username != "system:serviceaccount:default:robot" {
		t.Fatalf("whoami with the token: got %v, %v; want system:serviceaccount:default:robot", who, err)
	}
	_, errOut, err := c.try("create", "token", "ghost")
	if err == nil || !strings.Contains(errOut, `serviceaccounts "ghost" not found`) {
		t.Errorf("token of a missing ServiceAccount: got err %v, stderr %q, want NotFound", err, errOut)
	}
}
