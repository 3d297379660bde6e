package apiserver_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const allowPrivilegedEnv = "MINIK8S_TEST_ALLOW_PRIVILEGED"

// --allow-privileged is process-wide (upstream's validation reads
// k8s.io/kubernetes/pkg/capabilities), so each value is checked in a
// process of its own: this test binary, run again for that one test.
func TestAllowPrivileged(t *testing.T) {
	if v := os.Getenv(allowPrivilegedEnv); v != "" {
		checkAllowPrivileged(t, v == "true")
		return
	}
	for _, allow := range []bool{false, true} {
		t.Run("allow-privileged="+strconv.FormatBool(allow), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestAllowPrivileged$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), allowPrivilegedEnv+"="+strconv.FormatBool(allow))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("the test process with allow-privileged=%t failed: %v\n%s", allow, err, testLines(out))
			}
		})
	}
}

// checkAllowPrivileged runs in the test process of one value: privileged
// containers in a pod and in a Deployment's template are admitted, or
// refused with kube-apiserver's error; and a second apiserver asking for
// the other value does not start.
func checkAllowPrivileged(t *testing.T, allow bool) {
	s := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) { c.AllowPrivileged = allow })
	cs := clientset(t, s)
	ctx := context.Background()

	pod := newPod("privileged")
	pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	dep := newDeployment("privileged", 1)
	dep.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	tests := []struct {
		name      string
		create    func() error
		wantField string
	}{
		{"pod", func() error {
			_, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
			return err
		}, "spec.containers[0].securityContext.privileged"},
		{"deployment", func() error {
			_, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{})
			return err
		}, "spec.template.spec.containers[0].securityContext.privileged"},
	}
	for _, tt := range tests {
		err := tt.create()
		if allow {
			if err != nil {
				t.Errorf("%s: got %v, want it created", tt.name, err)
			}
			continue
		}
		if !apierrors.IsInvalid(err) {
			t.Errorf("%s: got %v, want Invalid", tt.name, err)
			continue
		}
		causes := err.(apierrors.APIStatus).Status().Details.Causes
		if len(causes) != 1 || causes[0].Field != tt.wantField || causes[0].Type != metav1.CauseTypeForbidden || !strings.Contains(causes[0].Message, "disallowed by cluster policy") {
			t.Errorf("%s: got causes %+v, want one Forbidden %s: disallowed by cluster policy", tt.name, causes, tt.wantField)
		}
	}

	other := apiserver.NewConfig()
	other.Listen = []string{"127.0.0.1:0"}
	other.DataDir = t.TempDir()
	other.AllowPrivileged = !allow
	if err := other.Validate(); err != nil {
		t.Fatal(err)
	}
	if s2, err := apiserver.Start(ctx, other); err == nil {
		s2.Close()
		t.Errorf("a second apiserver with allow-privileged=%t started, want it refused", !allow)
	} else if !strings.Contains(err.Error(), "process-wide") {
		t.Errorf("second apiserver: got %v, want the process-wide refusal", err)
	}
}

// testLines keeps a test process's own lines (go test -v and t.Log
// output), not the apiserver's logging.
func testLines(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "_test.go:") || strings.HasPrefix(strings.TrimSpace(l), "---") || strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "panic") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
