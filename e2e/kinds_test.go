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
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// manyKinds is the kind of manifest people apply beside a Deployment.
const manyKinds = `apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: lab}
---
apiVersion: v1
kind: Secret
metadata: {name: password}
stringData: {password: hunter2}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: robot}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: robot-reads}
subjects: [{kind: ServiceAccount, name: robot}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: minik8s/toolbox, command: ["true"]}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: c, image: minik8s/toolbox, command: ["true"]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
  - http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]
`

// TestManyKinds applies a manifest of the kinds beyond Deployments with
// ctl on the lab: each is created and listed with kubectl's columns, the
// namespace gets its default ServiceAccount and root CA ConfigMap from
// the controller-manager, and the garbage collector removes what a Job
// owns when the Job goes.
func TestManyKinds(t *testing.T) {
	ns := namespace(t)
	file := filepath.Join(t.TempDir(), "kinds.yaml")
	if err := os.WriteFile(file, []byte(manyKinds), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ctl("apply", "-n", ns, "-f", file)
	if err != nil {
		t.Fatalf("ctl apply: %v\n%s", err, out)
	}
	for _, want := range []string{"configmap/settings created", "secret/password created", "serviceaccount/robot created",
		"role.rbac.authorization.k8s.io/reader created", "rolebinding.rbac.authorization.k8s.io/robot-reads created",
		"job.batch/once created", "cronjob.batch/nightly created", "networkpolicy.networking.k8s.io/deny-all created",
		"ingress.networking.k8s.io/web created"} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl apply: no %q in\n%s", want, out)
		}
	}
	out, err = ctl("get", "-n", ns, "cronjobs,rolebindings")
	if err != nil || !strings.Contains(out, "SCHEDULE") || !strings.Contains(out, "0 3 * * *") || !strings.Contains(out, "Role/reader") {
		t.Errorf("ctl get cronjobs,rolebindings: %v\n%s", err, out)
	}
	ctx := context.Background()
	eventually(t, 20*time.Second, "default ServiceAccount and kube-root-ca.crt", func() error {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return err
		}
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err
	})

	job, err := cs.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	owned := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "job-output", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "batch/v1", Kind: "Job", Name: job.Name, UID: job.UID,
	}}}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, owned, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := ctl("delete", "-n", ns, "job", "once"); err != nil {
		t.Fatalf("ctl delete job: %v\n%s", err, out)
	}
	eventually(t, 30*time.Second, "the Job's ConfigMap collected", func() error {
		_, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "job-output", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%v)", err)
	})
}

// TestEvictionOnTheLab: an eviction stops a running pod through its agent
// and its Deployment replaces it; under a PodDisruptionBudget the
// disruption controller has processed, an eviction within the budget
// succeeds and the next one, which would break it, is refused with 429.
func TestEvictionOnTheLab(t *testing.T) {
	ns := namespace(t)
	deployExamples(t, ns)
	ctx := context.Background()
	pods, err := readyPods(ns, "app=echo")
	if err != nil || len(pods) == 0 {
		t.Fatalf("ready pods: %v, %d", err, len(pods))
	}
	victim := pods[0].Name
	evict := func(name string) error {
		return cs.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	if err := evict(victim); err != nil {
		t.Fatalf("evict %s: %v", victim, err)
	}
	eventually(t, 60*time.Second, victim+" gone and replaced", func() error {
		if _, err := cs.CoreV1().Pods(ns).Get(ctx, victim, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("%s still there (%v)", victim, err)
		}
		ready, err := readyPods(ns, "app=echo")
		if err != nil || len(ready) != 3 {
			return fmt.Errorf("%d ready pods (%v)", len(ready), err)
		}
		return nil
	})
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "echo"}}},
	}
	if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBudget(t, ns, "echo", 3, 1)
	pods, err = readyPods(ns, "app=echo")
	if err != nil || len(pods) != 3 {
		t.Fatalf("ready pods: %d (%v), want 3", len(pods), err)
	}
	if err := evict(pods[0].Name); err != nil {
		t.Fatalf("evict %s within the budget: %v", pods[0].Name, err)
	}
	err = evict(pods[1].Name)
	if !apierrors.IsTooManyRequests(err) || !strings.Contains(err.Error(), "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Fatalf("evict %s beyond the budget: got %v, want 429 Cannot evict pod as it would violate the pod's disruption budget.", pods[1].Name, err)
	}
	if p, err := cs.CoreV1().Pods(ns).Get(ctx, pods[1].Name, metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("%s after a refused eviction: %v, deleting %v; want it running", pods[1].Name, err, p.DeletionTimestamp)
	}
}
