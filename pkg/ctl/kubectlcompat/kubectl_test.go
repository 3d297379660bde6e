package kubectlcompat

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

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
`

// buildKubectl compiles testdata/kubectl, upstream kubectl's main.
func buildKubectl(t *testing.T) string {
	t.Helper()
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		if goBin, err = exec.LookPath("go"); err != nil {
			t.Fatalf("no go command to build kubectl with: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "kubectl")
	cmd := exec.Command(goBin, "build", "-o", bin, "./testdata/kubectl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building kubectl: %v\n%s", err, out)
	}
	return bin
}

type kubectl struct {
	t      *testing.T
	bin    string
	server string
	env    []string
}

func (k *kubectl) command(args ...string) *exec.Cmd {
	cmd := exec.Command(k.bin, args...)
	cmd.Env = k.env
	return cmd
}

func (k *kubectl) run(stdin string, args ...string) (stdout, stderr string, err error) {
	k.t.Helper()
	var out, errOut bytes.Buffer
	cmd := k.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// must runs kubectl and returns its stdout, failing the test on error.
func (k *kubectl) must(stdin string, args ...string) string {
	k.t.Helper()
	out, errOut, err := k.run(stdin, args...)
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

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

func TestRealKubectl(t *testing.T) {
	bin := buildKubectl(t)
	s := apiservertest.Start(t)
	home := t.TempDir()
	k := &kubectl{t: t, bin: bin, server: s.URL, env: []string{
		"HOME=" + home, "KUBECONFIG=" + s.Kubeconfig, "KUBECACHEDIR=" + filepath.Join(home, "cache"), "PATH=" + os.Getenv("PATH"),
	}}

	if out := k.must("", "get", "namespaces"); !strings.Contains(out, "kube-system") || !strings.Contains(out, "STATUS") {
		t.Errorf("get namespaces: got\n%s", out)
	}

	// get -w streams changes while the rest of the test makes them.
	var watchOut, watchErr syncBuffer
	watch := k.command("get", "deployments", "-w")
	watch.Stdout, watch.Stderr = &watchOut, &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		watch.Process.Kill()
		watch.Wait()
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(watchOut.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("kubectl get -w: %q never appeared; stdout:\n%s\nstderr:\n%s", what, watchOut.String(), watchErr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	if got := k.must(webYAML, "apply", "-f", "-"); strings.TrimSpace(got) != "deployment.apps/web created" {
		t.Errorf("apply: got %q, want deployment.apps/web created", got)
	}
	if got := k.must(webYAML, "apply", "-f", "-"); strings.TrimSpace(got) != "deployment.apps/web unchanged" {
		t.Errorf("second apply: got %q, want deployment.apps/web unchanged", got)
	}
	changed := strings.Replace(webYAML, "replicas: 2", "replicas: 3", 1)
	if got := k.must(changed, "apply", "-f", "-"); strings.TrimSpace(got) != "deployment.apps/web configured" {
		t.Errorf("apply of a change: got %q, want deployment.apps/web configured", got)
	}
	waitFor("0/3")

	if got := k.must("", "scale", "deployment", "web", "--replicas=5"); strings.TrimSpace(got) != "deployment.apps/web scaled" {
		t.Errorf("scale: got %q", got)
	}
	if got := k.must("", "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}"); got != "5" {
		t.Errorf("replicas after scale: got %q, want 5", got)
	}
	waitFor("0/5")

	if got := k.must("", "get", "deployment", "web", "-o", "wide"); !strings.Contains(got, "minik8s/echo:latest") {
		t.Errorf("get -o wide: got\n%s", got)
	}
	if got := k.must("", "delete", "deployment", "web"); !strings.Contains(got, `deployment.apps "web" deleted`) {
		t.Errorf("delete: got %q", got)
	}
	_, errOut, err := k.run("", "get", "deployment", "web")
	if err == nil || !strings.Contains(errOut, `deployments.apps "web" not found`) {
		t.Errorf("get after delete: got %v, %q; want NotFound", err, errOut)
	}
}
