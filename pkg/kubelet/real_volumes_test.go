package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The pod features real manifests use, on a real containerd: ConfigMap,
// Secret, downwardAPI and claim volumes, env from them, and their updates;
// start errors; sidecars.
func TestRealPodFeatures(t *testing.T) {
	e := setupReal(t)
	base := e.agentURL(t)
	ctx := context.Background()
	core := e.client.CoreV1()

	t.Run("configMap, secret and downwardAPI volumes and env, updated in place", func(t *testing.T) {
		if _, err := core.ConfigMaps("default").Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"},
			Data: map[string]string{"greeting": "hello"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := core.Secrets("default").Create(ctx, &v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"},
			Data: map[string][]byte{"pass": []byte("s3cret")}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "vols", Labels: map[string]string{"app": "vols"}}, Spec: v1.PodSpec{
			Volumes: []v1.Volume{
				{Name: "cfg", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "sec", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptrInt32(0o400)}}},
				{Name: "info", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
			},
			Containers: []v1.Container{{Name: "c",
				Command: sh(`echo "env=$PASS mem=$MEM mode=$(stat -c %a /sec/..data/pass) labels=$(cat /info/labels) ro=$(touch /cfg/x 2>/dev/null && echo no || echo yes)"; ` +
					`while true; do echo "cfg=$(cat /cfg/greeting)"; sleep 1; done`),
				Env: []v1.EnvVar{
					{Name: "PASS", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Key: "pass"}}},
					{Name: "MEM", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				},
				Resources:    v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("32Mi")}},
				VolumeMounts: []v1.VolumeMount{{Name: "cfg", MountPath: "/cfg"}, {Name: "sec", MountPath: "/sec"}, {Name: "info", MountPath: "/info"}},
			}},
		}})
		e.waitPod(t, "vols", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
		var out string
		for i := 0; i < 50 && !strings.Contains(out, "cfg=hello"); i++ {
			time.Sleep(200 * time.Millisecond)
			out = e.logs(t, base, "vols", "c", "")
		}
		if want := `env=s3cret mem=32 mode=400 labels=app="vols" ro=yes`; !strings.Contains(out, want) {
			t.Errorf("logs = %q, want %q", out, want)
		}
		if !strings.Contains(out, "cfg=hello") {
			t.Fatalf("logs = %q, want cfg=hello", out)
		}
		cm, _ := core.ConfigMaps("default").Get(ctx, "cfg", metav1.GetOptions{})
		cm.Data["greeting"] = "bonjour"
		if _, err := core.ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(out, "cfg=bonjour") && time.Now().Before(deadline) {
			time.Sleep(500 * time.Millisecond)
			out = e.logs(t, base, "vols", "c", "tailLines=2")
		}
		if !strings.Contains(out, "cfg=bonjour") {
			t.Fatalf("the ConfigMap update did not reach the file within a minute: %q", out)
		}
		p, _ := core.Pods("default").Get(ctx, "vols", metav1.GetOptions{})
		if rc := p.Status.ContainerStatuses[0].RestartCount; rc != 0 {
			t.Errorf("restartCount = %d, want 0 (updated without a restart)", rc)
		}
	})

	t.Run("a missing key waits as CreateContainerConfigError", func(t *testing.T) {
		if _, err := core.ConfigMaps("default").Create(ctx, &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "needkey"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever, Containers: []v1.Container{{
			Name: "c", Command: sh("echo got=$KEY"),
			Env: []v1.EnvVar{{Name: "KEY", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "later"}, Key: "KEY"}}}},
		}}}})
		e.waitPod(t, "needkey", "CreateContainerConfigError", 30*time.Second, func(p *v1.Pod) bool {
			if len(p.Status.ContainerStatuses) != 1 {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			return w != nil && w.Reason == "CreateContainerConfigError" && w.Message == "couldn't find key KEY in ConfigMap default/later"
		})
		cm, _ := core.ConfigMaps("default").Get(ctx, "later", metav1.GetOptions{})
		cm.Data = map[string]string{"KEY": "v"}
		if _, err := core.ConfigMaps("default").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitPod(t, "needkey", "Succeeded", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if out := e.logs(t, base, "needkey", "c", ""); out != "got=v\n" {
			t.Errorf("logs = %q, want got=v", out)
		}
	})

	t.Run("a claim bound to a hostPath volume keeps data across pods", func(t *testing.T) {
		dirOrCreate := v1.HostPathDirectoryOrCreate
		hostDir := filepath.Join(e.dir, "pv-data")
		if _, err := core.PersistentVolumes().Create(ctx, &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv1"}, Spec: v1.PersistentVolumeSpec{
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			PersistentVolumeSource: v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir, Type: &dirOrCreate}},
			ClaimRef:               &v1.ObjectReference{Namespace: "default", Name: "data"},
		}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		claim, err := core.PersistentVolumeClaims("default").Create(ctx, &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"}, Spec: v1.PersistentVolumeClaimSpec{
			AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce}, VolumeName: "pv1",
			Resources: v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		podWith := func(name, script string) *v1.Pod {
			return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever,
				Volumes: []v1.Volume{{Name: "d", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
				Containers: []v1.Container{{Name: "c", Command: sh(script),
					VolumeMounts: []v1.VolumeMount{{Name: "d", MountPath: "/data"}, {Name: "d", MountPath: "/sub", SubPath: "nested"}}}}}}
		}
		// Not bound yet: the pod waits with FailedMount.
		e.create(t, podWith("writer", "echo kept > /data/file; echo deep > /sub/f"))
		time.Sleep(3 * time.Second)
		if p, _ := core.Pods("default").Get(ctx, "writer", metav1.GetOptions{}); p.Status.Phase != v1.PodPending {
			t.Fatalf("phase with an unbound claim = %s, want Pending", p.Status.Phase)
		}
		evs, _ := core.Events("default").List(ctx, metav1.ListOptions{})
		found := false
		for _, ev := range evs.Items {
			if ev.InvolvedObject.Name == "writer" && ev.Reason == "FailedMount" && strings.Contains(ev.Message, "PVC is not bound") {
				found = true
			}
		}
		if !found {
			t.Errorf("no FailedMount event saying the claim is not bound")
		}
		claim.Status.Phase = v1.ClaimBound
		if _, err := core.PersistentVolumeClaims("default").UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitPod(t, "writer", "Succeeded", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		e.create(t, podWith("reader", "cat /data/file /data/nested/f"))
		e.waitPod(t, "reader", "Succeeded", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if out := e.logs(t, base, "reader", "c", ""); out != "kept\ndeep\n" {
			t.Errorf("reader logs = %q, want the data the writer left", out)
		}
	})

	t.Run("a command that cannot start fails a Never pod with StartError", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nocmd"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever,
			Containers: []v1.Container{{Name: "c", Command: []string{"/no/such/binary"}}}}})
		p := e.waitPod(t, "nocmd", "Failed", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodFailed })
		term := p.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.Reason != "StartError" || term.ExitCode != 128 || p.Status.ContainerStatuses[0].RestartCount != 0 {
			t.Errorf("container status = %+v, want terminated StartError 128 and no restart", p.Status.ContainerStatuses[0])
		}
	})

	t.Run("a sidecar serves the init container after it and the main container, then stops", func(t *testing.T) {
		always := v1.ContainerRestartPolicyAlways
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "withsidecar"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptrInt64(2),
			InitContainers: []v1.Container{
				{Name: "web", Image: testImage, ImagePullPolicy: v1.PullIfNotPresent, RestartPolicy: &always,
					Command:      sh("mkdir -p /tmp/w && echo from-sidecar > /tmp/w/index.html && exec httpd -f -p 8081 -h /tmp/w"),
					StartupProbe: &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(8081)}}, PeriodSeconds: 1}},
				{Name: "setup", Image: testImage, ImagePullPolicy: v1.PullIfNotPresent, Command: sh("wget -qO- http://127.0.0.1:8081/")},
			},
			Containers: []v1.Container{{Name: "c", Command: sh("wget -qO- http://127.0.0.1:8081/")}},
		}})
		p := e.waitPod(t, "withsidecar", "Succeeded", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		for _, c := range []string{"setup", "c"} {
			if out := e.logs(t, base, "withsidecar", c, ""); out != "from-sidecar\n" {
				t.Errorf("%s logs = %q, want the sidecar's page", c, out)
			}
		}
		if cs := p.Status.InitContainerStatuses; len(cs) != 2 || cs[0].RestartCount != 0 {
			t.Errorf("init container statuses = %+v, want the sidecar never restarted", cs)
		}
		e.waitPod(t, "withsidecar", "the sidecar stopped", 10*time.Second, func(p *v1.Pod) bool {
			return len(p.Status.InitContainerStatuses) == 2 && p.Status.InitContainerStatuses[0].State.Terminated != nil
		})
	})
}

// Secret volumes live on a tmpfs: mounted once (again on an adopted pod's
// volume is a no-op), and unmounted with the pod's files, spaces in the
// path included.
func TestRealTmpfsVolume(t *testing.T) {
	skipUnlessReal(t)
	base := filepath.Join(t.TempDir(), "state dir")
	dir := filepath.Join(base, "pods", "uid-1", "volumes", "kubernetes.io~secret", "creds")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountBelow(base) })
	mounts := func() int {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		return strings.Count(string(b), strings.ReplaceAll(dir, " ", `\040`)+" ")
	}
	for i := 0; i < 2; i++ {
		if err := mountTmpfs(dir); err != nil {
			t.Fatal(err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil || st.Type != tmpfsMagic {
		t.Fatalf("statfs = %x (%v), want tmpfs", st.Type, err)
	}
	if n := mounts(); n != 1 {
		t.Errorf("tmpfs mounted %d times, want once", n)
	}
	unmountBelow(filepath.Join(base, "pods", "uid-1"))
	if n := mounts(); n != 0 {
		t.Errorf("%d mounts left after unmountBelow", n)
	}
	if err := os.RemoveAll(base); err != nil {
		t.Errorf("removing the pod's files: %v", err)
	}
}
