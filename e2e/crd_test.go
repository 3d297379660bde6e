//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const crontabCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names: {plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ct]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string, pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$'}
              image: {type: string}
              replicas: {type: integer, minimum: 0, default: 1}
          status:
            type: object
            properties:
              replicas: {type: integer}
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.replicas, statusReplicasPath: .status.replicas}
    additionalPrinterColumns:
    - {name: Spec, type: string, jsonPath: .spec.cronSpec}
    - {name: Replicas, type: integer, jsonPath: .spec.replicas}
`

// TestCustomResourcesOnTheLab: a CRD applied with ctl is served within
// seconds; its objects are defaulted, validated, listed with the printer
// columns, scaled, explained; the namespace's deletion takes them along,
// and the CRD's deletion removes the resource from the API.
func TestCustomResourcesOnTheLab(t *testing.T) {
	ns := namespace(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crd := write("crd.yaml", crontabCRD)
	if out, err := ctl("apply", "-f", crd); err != nil || !strings.Contains(out, "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com created") {
		t.Fatalf("ctl apply crd: %v\n%s", err, out)
	}
	t.Cleanup(func() { ctl("delete", "crd", "crontabs.stable.example.com", "--ignore-not-found") })
	if out, err := ctl("wait", "--for=condition=Established", "crd/crontabs.stable.example.com", "--timeout=10s"); err != nil {
		t.Fatalf("ctl wait: %v\n%s", err, out)
	}
	good := write("good.yaml", "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: backup}\nspec: {cronSpec: '*/5 * * * *', image: minik8s/toolbox}\n")
	if out, err := ctl("apply", "-n", ns, "-f", good); err != nil || !strings.Contains(out, "crontab.stable.example.com/backup created") {
		t.Fatalf("ctl apply crontab: %v\n%s", err, out)
	}
	bad := write("bad.yaml", "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {name: bad}\nspec: {cronSpec: 'every minute', replicas: -1}\n")
	out, err := ctl("apply", "-n", ns, "-f", bad)
	if err == nil || !strings.Contains(out, `The CronTab "bad" is invalid`) || !strings.Contains(out, "spec.cronSpec") || !strings.Contains(out, "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0") {
		t.Errorf("ctl apply of an invalid crontab: %v\n%s", err, out)
	}
	out, err = ctl("get", "-n", ns, "ct")
	if err != nil || !strings.Contains(out, "SPEC") || !strings.Contains(out, "REPLICAS") || !strings.Contains(out, "*/5 * * * *") {
		t.Errorf("ctl get ct: %v\n%s", err, out)
	}
	if out, err := ctl("scale", "-n", ns, "crontab/backup", "--replicas=3"); err != nil || !strings.Contains(out, "crontab.stable.example.com/backup scaled") {
		t.Errorf("ctl scale: %v\n%s", err, out)
	}
	if out, err := ctl("get", "-n", ns, "crontab", "backup", "-o", "jsonpath={.spec.replicas}"); err != nil || out != "3" {
		t.Errorf("replicas after scale: %v %q", err, out)
	}
	if out, err := ctl("explain", "crontab.spec.replicas"); err != nil || !strings.Contains(out, "FIELD: replicas <integer>") {
		t.Errorf("ctl explain: %v\n%s", err, out)
	}

	// Deleting the namespace deletes the custom resources in it.
	ctx := context.Background()
	other := ns + "-gone"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := ctl("apply", "-n", other, "-f", good); err != nil {
		t.Fatalf("ctl apply in %s: %v\n%s", other, err, out)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, other, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the namespace with a custom resource deleted", func() error {
		_, err := cs.CoreV1().Namespaces().Get(ctx, other, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})

	// Deleting the CRD deletes its objects and the resource.
	if out, err := ctl("delete", "crd", "crontabs.stable.example.com"); err != nil {
		t.Fatalf("ctl delete crd: %v\n%s", err, out)
	}
	eventually(t, 20*time.Second, "crontabs gone from the API", func() error {
		// kubectl's answer depends on whether its discovery cache still
		// has the resource: either way the API has it no more.
		out, err := ctl("get", "-n", ns, "crontabs")
		if err != nil && (strings.Contains(out, `the server doesn't have a resource type "crontabs"`) || strings.Contains(out, "the server could not find the requested resource")) {
			return nil
		}
		return fmt.Errorf("ctl get crontabs: %v %s", err, out)
	})
}
