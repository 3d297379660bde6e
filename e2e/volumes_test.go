//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The TestVolumes* tests run pods that use what real manifests use:
// ConfigMap, Secret, downwardAPI and claim volumes, and env from ConfigMaps
// and Secrets, on the lab's agents.

// A ConfigMap update reaches the mounted file without a restart.
func TestVolumesConfigMapUpdate(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
		Data: map[string]string{"greeting": "hello"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := toolboxPod("reader", "node1", `while true; do echo "cfg=$(cat /cfg/greeting)"; sleep 1; done`, corev1.RestartPolicyAlways)
	pod.Spec.Volumes = []corev1.Volume{{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "reader", corev1.PodRunning, 40*time.Second)
	eventually(t, 10*time.Second, "cfg=hello in the log", func() error { return logHas(ns, "reader", "cfg=hello") })
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["greeting"] = "bonjour"
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "the update in the mounted file", func() error { return logHas(ns, "reader", "cfg=bonjour") })
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "reader", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rc := p.Status.ContainerStatuses[0].RestartCount; rc != 0 {
		t.Errorf("restartCount = %d, want 0", rc)
	}
}

// A Secret in env and as a file (mode, tmpfs), and a downwardAPI volume of the labels.
func TestVolumesSecretAndDownwardAPI(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := toolboxPod("secret", "node2",
		`echo "env=$PASSWORD file=$(cat /creds/pw) mode=$(stat -L -c %a /creds/pw) fs=$(awk '$2=="/creds"{print $3}' /proc/mounts)"; cat /info/labels; echo`,
		corev1.RestartPolicyNever)
	pod.Labels = map[string]string{"app": "web", "tier": "front"}
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds",
			Items: []corev1.KeyToPath{{Key: "password", Path: "pw", Mode: ptr(int32(0o400))}}}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
	}
	c := &pod.Spec.Containers[0]
	c.VolumeMounts = []corev1.VolumeMount{{Name: "creds", MountPath: "/creds"}, {Name: "info", MountPath: "/info"}}
	c.Env = []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "secret", corev1.PodSucceeded, 40*time.Second)
	out, err := podLogs(ns, "secret", "toolbox")
	if err != nil {
		t.Fatal(err)
	}
	want := "env=s3cret file=s3cret mode=400 fs=tmpfs\napp=\"web\"\ntier=\"front\"\n"
	if out != want {
		t.Errorf("logs = %q, want %q", out, want)
	}
}

// A missing key holds the container in CreateContainerConfigError until it is added.
func TestVolumesMissingKey(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"other": "x"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := toolboxPod("waits", "node3", `echo "mode=$MODE"; sleep 3600`, corev1.RestartPolicyAlways)
	pod.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "mode"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const msg = "couldn't find key mode in ConfigMap "
	eventually(t, 30*time.Second, "CreateContainerConfigError", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "waits", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return fmt.Errorf("container status %+v", p.Status.ContainerStatuses)
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		if w.Reason != "CreateContainerConfigError" || w.Message != msg+ns+"/settings" {
			return fmt.Errorf("waiting %s: %s", w.Reason, w.Message)
		}
		return nil
	})
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["mode"] = "fast"
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "waits", corev1.PodRunning, 40*time.Second)
	eventually(t, 10*time.Second, "mode=fast in the log", func() error { return logHas(ns, "waits", "mode=fast") })
}

// A claim bound to a hostPath volume keeps its data across a pod delete and re-create.
func TestVolumesClaim(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	dir, err := os.MkdirTemp("", "minik8s-e2e-pv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	pvName := "pv-" + ns
	dirOrCreate := corev1.HostPathDirectoryOrCreate
	if _, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: pvName}, Spec: corev1.PersistentVolumeSpec{
		Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
		PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir + "/data", Type: &dirOrCreate}},
		ClaimRef:               &corev1.ObjectReference{Namespace: ns, Name: "data"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.CoreV1().PersistentVolumes().Delete(context.Background(), pvName, metav1.DeleteOptions{}) })
	claim, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: corev1.PersistentVolumeClaimSpec{
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: pvName,
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Bound as the PV controller would mark it (the binder is not
	// what this test is about).
	if claim.Status.Phase != corev1.ClaimBound {
		claim.Status.Phase = corev1.ClaimBound
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	podOn := func(script string) *corev1.Pod {
		p := toolboxPod("db", "node1", script, corev1.RestartPolicyNever)
		p.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "d", MountPath: "/var/lib/db"}}
		return p
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, podOn("echo row1 >> /var/lib/db/table; cat /var/lib/db/table"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "db", corev1.PodSucceeded, 40*time.Second)
	zero := int64(0)
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "db", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the first pod gone", func() error {
		if _, err := cs.CoreV1().Pods(ns).Get(ctx, "db", metav1.GetOptions{}); err == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, podOn("echo row2 >> /var/lib/db/table; cat /var/lib/db/table"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "db", corev1.PodSucceeded, 40*time.Second)
	out, err := podLogs(ns, "db", "toolbox")
	if err != nil {
		t.Fatal(err)
	}
	if out != "row1\nrow2\n" {
		t.Errorf("second pod read %q, want the first pod's row kept: %q", out, "row1\nrow2\n")
	}
}

// logHas reports (as an error) whether the toolbox container's log of pod
// lacks s.
func logHas(ns, pod, s string) error {
	out, err := podLogs(ns, pod, "toolbox")
	if err != nil {
		return err
	}
	if !strings.Contains(out, s) {
		return fmt.Errorf("log %q lacks %q", tailLines(out, 3), s)
	}
	return nil
}

// A Never pod with a sidecar, as a Job's pod with a log shipper or proxy:
// the sidecar starts first and serves the main container, and the pod
// ends Succeeded once the main container is done, the sidecar stopped.
func TestPodSidecar(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	pod := toolboxPod("job", "node2", "wget -qO- http://127.0.0.1:8081/", corev1.RestartPolicyNever)
	pod.Spec.InitContainers = []corev1.Container{{
		Name: "web", Image: "minik8s/toolbox:latest", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways),
		Command:      []string{"sh", "-c", "mkdir -p /tmp/w && echo from-sidecar > /tmp/w/index.html && exec httpd -f -p 8081 -h /tmp/w"},
		StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8081)}}, PeriodSeconds: 1},
	}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "job", corev1.PodSucceeded, 40*time.Second)
	if out, err := podLogs(ns, "job", "toolbox"); err != nil || out != "from-sidecar\n" {
		t.Errorf("main container logs = %q (%v), want the sidecar's page", out, err)
	}
	eventually(t, 10*time.Second, "the sidecar stopped", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "job", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(p.Status.InitContainerStatuses) != 1 || p.Status.InitContainerStatuses[0].State.Terminated == nil {
			return fmt.Errorf("init container statuses %+v", p.Status.InitContainerStatuses)
		}
		return nil
	})
}
