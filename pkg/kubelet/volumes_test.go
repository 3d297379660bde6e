package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

func ptrInt32(v int32) *int32 { return &v }

func volPod(vols ...v1.Volume) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1", Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{Volumes: vols, Containers: []v1.Container{{Name: "c", Image: "img",
			Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
}

func TestVolumeProjection(t *testing.T) {
	objs := []runtime.Object{
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"},
			Data: map[string]string{"a.conf": "A", "b.conf": "B"}, BinaryData: map[string][]byte{"bin": {0, 1}}},
		&v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "default"}, Data: map[string][]byte{"user": []byte("u"), "pass": []byte("p")}},
	}
	for _, tt := range []struct {
		name    string
		vol     v1.VolumeSource
		want    map[string]string // path: "mode content"
		wantErr string
	}{
		{
			name: "configMap, every key with the default mode",
			vol:  v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}},
			want: map[string]string{"a.conf": "-rw-r--r-- A", "b.conf": "-rw-r--r-- B", "bin": "-rw-r--r-- \x00\x01"},
		},
		{
			name: "configMap items with paths and modes",
			vol: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptrInt32(0o440),
				Items: []v1.KeyToPath{{Key: "a.conf", Path: "etc/a"}, {Key: "b.conf", Path: "b", Mode: ptrInt32(0o600)}}}},
			want: map[string]string{"etc/a": "-r--r----- A", "b": "-rw------- B"},
		},
		{
			name:    "configMap item of a missing key",
			vol:     v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Items: []v1.KeyToPath{{Key: "nope", Path: "x"}}}},
			wantErr: `MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: nope`,
		},
		{
			name:    "missing configMap",
			vol:     v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}},
			wantErr: `MountVolume.SetUp failed for volume "v" : configmap "gone" not found`,
		},
		{
			name: "missing optional configMap is empty",
			vol:  v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Optional: ptrBool(true)}},
			want: map[string]string{},
		},
		{
			name: "secret with defaultMode and an item mode",
			vol: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "sec", DefaultMode: ptrInt32(0o400),
				Items: []v1.KeyToPath{{Key: "user", Path: "user"}, {Key: "pass", Path: "creds/pass", Mode: ptrInt32(0o600)}}}},
			want: map[string]string{"user": "-r-------- u", "creds/pass": "-rw------- p"},
		},
		{
			name:    "secret item of a missing key",
			vol:     v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "sec", Items: []v1.KeyToPath{{Key: "nope", Path: "x"}}}},
			wantErr: `MountVolume.SetUp failed for volume "v" : references non-existent secret key: nope`,
		},
		{
			name:    "missing secret",
			vol:     v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "gone"}},
			wantErr: `MountVolume.SetUp failed for volume "v" : secret "gone" not found`,
		},
		{
			name: "downwardAPI",
			vol: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptrInt32(0o400)},
				{Path: "mem", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
				{Path: "cpu", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
			}}},
			want: map[string]string{"labels": `-rw-r--r-- app="web"`, "name": "-r-------- p", "mem": "-rw-r--r-- 64", "cpu": "-rw-r--r-- 2000"},
		},
		{
			name: "projected configMap, secret and downwardAPI",
			vol: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{DefaultMode: ptrInt32(0o444), Sources: []v1.VolumeProjection{
				{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}, Items: []v1.KeyToPath{{Key: "a.conf", Path: "a"}}}},
				{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}, Items: []v1.KeyToPath{{Key: "pass", Path: "pass", Mode: ptrInt32(0o400)}}}},
				{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token"}},
			}}},
			want: map[string]string{"a": "-r--r--r-- A", "pass": "-r-------- p", "ns": "-r--r--r-- default"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewSimpleClientset(objs...)
			o := fakeObjects(client)
			m := &volumeManager{podsDir: t.TempDir(), objects: o, allocatable: testAllocatable}
			pod := volPod(v1.Volume{Name: "v", VolumeSource: tt.vol})
			res := m.setup(context.Background(), pod)
			if tt.wantErr != "" {
				if len(res.failed) != 1 || res.failed[0] != tt.wantErr {
					t.Fatalf("failed = %q, want %q", res.failed, tt.wantErr)
				}
				return
			}
			if len(res.failed) > 0 {
				t.Fatalf("failed: %v", res.failed)
			}
			v := res.volumes["v"]
			if !v.readOnly {
				t.Errorf("API data volume not read-only")
			}
			got := readVolume(t, v.path)
			if len(got) != len(tt.want) {
				t.Errorf("files = %q, want %q", got, tt.want)
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("%s = %q, want %q", k, got[k], w)
				}
			}
		})
	}
}

func TestProjectedTokenLeftOutWithoutTokenManager(t *testing.T) {
	m := &volumeManager{podsDir: t.TempDir(), objects: fakeObjects(fake.NewSimpleClientset())}
	pod := volPod(v1.Volume{Name: "api", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
		{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token"}}}}}})
	res := m.setup(context.Background(), pod)
	if len(res.failed) > 0 || len(res.warnings) != 1 || !strings.Contains(res.warnings[0], `issues no ServiceAccount tokens`) {
		t.Errorf("failed = %q, warnings = %q; want one warning about the token", res.failed, res.warnings)
	}
}

func TestConfigMapUpdateRewritesFiles(t *testing.T) {
	cm := &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"k": "v1", "old": "x"}}
	client := fake.NewSimpleClientset(cm)
	m := &volumeManager{podsDir: t.TempDir(), objects: fakeObjects(client)}
	pod := volPod(v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}}})
	res := m.setup(context.Background(), pod)
	dir := res.volumes["v"].path
	// A container holding the file open across the update keeps reading
	// the old content; a fresh read sees the new.
	cm = cm.DeepCopy()
	cm.Data = map[string]string{"k": "v2", "new": "y"}
	if _, err := client.CoreV1().ConfigMaps("default").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	m.setup(context.Background(), pod)
	got := readVolume(t, dir)
	if got["k"] != "-rw-r--r-- v2" || got["new"] != "-rw-r--r-- y" || len(got) != 2 {
		t.Errorf("after update = %q, want k=v2 and new=y only", got)
	}
}

func TestClaimResolution(t *testing.T) {
	dir := t.TempDir()
	dirOrCreate := v1.HostPathDirectoryOrCreate
	directory := v1.HostPathDirectory
	claim := func(name, volume string, phase v1.PersistentVolumeClaimPhase) *v1.PersistentVolumeClaim {
		return &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("claim-" + name)},
			Spec: v1.PersistentVolumeClaimSpec{VolumeName: volume}, Status: v1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	pv := func(name, claimName string, uid string, src v1.PersistentVolumeSource) *v1.PersistentVolume {
		p := &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PersistentVolumeSpec{PersistentVolumeSource: src}}
		if claimName != "" {
			p.Spec.ClaimRef = &v1.ObjectReference{Namespace: "default", Name: claimName, UID: types.UID(uid)}
		}
		return p
	}
	// deleting marks a claim deleted, keeping the finalizers given.
	deleting := func(c *v1.PersistentVolumeClaim, finalizers ...string) *v1.PersistentVolumeClaim {
		c.DeletionTimestamp = &metav1.Time{Time: time.Now()}
		c.Finalizers = finalizers
		return c
	}
	objs := []runtime.Object{
		claim("made", "pv-made", v1.ClaimBound), pv("pv-made", "made", "claim-made", v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(dir, "made/deep"), Type: &dirOrCreate}}),
		claim("local", "pv-local", v1.ClaimBound), pv("pv-local", "local", "", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: dir}}),
		claim("pending", "", v1.ClaimPending),
		claim("novol", "", v1.ClaimBound),
		claim("nopv", "pv-gone", v1.ClaimBound),
		claim("noref", "pv-noref", v1.ClaimBound), pv("pv-noref", "", "", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: dir}}),
		claim("other", "pv-other", v1.ClaimBound), pv("pv-other", "other", "claim-someone-else", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: dir}}),
		claim("missingdir", "pv-missingdir", v1.ClaimBound), pv("pv-missingdir", "missingdir", "", v1.PersistentVolumeSource{HostPath: &v1.HostPathVolumeSource{Path: filepath.Join(dir, "nope"), Type: &directory}}),
		claim("nfs", "pv-nfs", v1.ClaimBound), pv("pv-nfs", "nfs", "", v1.PersistentVolumeSource{NFS: &v1.NFSVolumeSource{Server: "s", Path: "/"}}),
		deleting(claim("deleting", "pv-made", v1.ClaimBound)),
		deleting(claim("protected", "pv-protected", v1.ClaimBound), "kubernetes.io/pvc-protection"),
		pv("pv-protected", "protected", "claim-protected", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: dir}}),
	}
	prefix := func(c string) string {
		return "Unable to attach or mount volumes: unmounted volumes=[v], unattached volumes=[v], failed to process volumes=[v]: error processing PVC default/" + c + ": "
	}
	for _, tt := range []struct {
		claim    string
		readOnly bool
		want     string
		wantErr  string
	}{
		{claim: "made", want: filepath.Join(dir, "made/deep")},
		{claim: "local", readOnly: true, want: dir},
		{claim: "gone", wantErr: prefix("gone") + `failed to fetch PVC from API server: persistentvolumeclaims "gone" not found`},
		{claim: "pending", wantErr: prefix("pending") + "PVC is not bound"},
		{claim: "novol", wantErr: prefix("novol") + "PVC has empty pvc.Spec.VolumeName"},
		{claim: "nopv", wantErr: prefix("nopv") + `failed to fetch PV pv-gone from API server: persistentvolumes "pv-gone" not found`},
		{claim: "noref", wantErr: prefix("noref") + "found PV object pv-noref but it has a nil or empty ClaimRef"},
		{claim: "other", wantErr: prefix("other") + "found PV object pv-other but its ClaimRef.UID (claim-someone-else) does not point to claim.UID (claim-other)"},
		{claim: "missingdir", wantErr: prefix("missingdir") + "hostPath type check failed: " + filepath.Join(dir, "nope") + " does not exist"},
		{claim: "nfs", wantErr: prefix("nfs") + "PV pv-nfs: kubelet-lite mounts only hostPath and local persistent volumes"},
		{claim: "deleting", wantErr: prefix("deleting") + "PVC is being deleted"},
		// The protection finalizer keeps a deleted claim usable by the
		// pods that used it (an agent restart must not lose their mounts).
		{claim: "protected", want: dir},
	} {
		t.Run(tt.claim, func(t *testing.T) {
			m := &volumeManager{podsDir: t.TempDir(), objects: fakeObjects(fake.NewSimpleClientset(objs...))}
			pod := volPod(v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: tt.claim, ReadOnly: tt.readOnly}}})
			res := m.setup(context.Background(), pod)
			if tt.wantErr != "" {
				if len(res.failed) != 1 || res.failed[0] != tt.wantErr {
					t.Fatalf("failed = %q\nwant %q", res.failed, tt.wantErr)
				}
				return
			}
			if len(res.failed) > 0 {
				t.Fatal(res.failed)
			}
			v := res.volumes["v"]
			if v.path != tt.want || v.readOnly != tt.readOnly {
				t.Errorf("volume = %+v, want path %s readOnly %v", v, tt.want, tt.readOnly)
			}
			if fi, err := os.Stat(v.path); err != nil || !fi.IsDir() {
				t.Errorf("%s is not a directory: %v", v.path, err)
			}
		})
	}
}

func TestContainerMountsSubPath(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o777); err != nil { // as an emptyDir
		t.Fatal(err)
	}
	vols := map[string]podVolume{"data": {path: root}, "cfg": {path: root, readOnly: true}}
	env := []envVar{{"POD", "p1"}}
	for _, tt := range []struct {
		name    string
		vm      v1.VolumeMount
		want    Mount
		wantErr string
	}{
		{name: "whole volume", vm: v1.VolumeMount{Name: "data", MountPath: "/d"}, want: Mount{Source: root, Destination: "/d"}},
		{name: "read-only volume", vm: v1.VolumeMount{Name: "cfg", MountPath: "/c"}, want: Mount{Source: root, Destination: "/c", ReadOnly: true}},
		{name: "subPath made", vm: v1.VolumeMount{Name: "data", MountPath: "/d", SubPath: "a/b", ReadOnly: true}, want: Mount{Source: filepath.Join(root, "a/b"), Destination: "/d", ReadOnly: true}},
		{name: "subPathExpr", vm: v1.VolumeMount{Name: "data", MountPath: "/d", SubPathExpr: "logs/$(POD)"}, want: Mount{Source: filepath.Join(root, "logs/p1"), Destination: "/d"}},
		{name: "dot-dot", vm: v1.VolumeMount{Name: "data", MountPath: "/d", SubPath: "../x"}, wantErr: `failed to prepare subPath for volumeMount "data" of container "c": subPath "../x" must not contain '..'`},
		{name: "symlink out", vm: v1.VolumeMount{Name: "data", MountPath: "/d", SubPath: "escape"}, wantErr: "outside the volume"},
		{name: "no such volume", vm: v1.VolumeMount{Name: "nope", MountPath: "/d"}, wantErr: `cannot find volume "nope" to mount into container "c"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &v1.Container{Name: "c", VolumeMounts: []v1.VolumeMount{tt.vm}}
			got, err := containerMounts(&v1.Pod{}, c, vols, env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("mounts = %+v, want %+v", got, tt.want)
			}
			if fi, err := os.Stat(got[0].Source); err != nil || fi.Mode().Perm() != 0o777 {
				t.Errorf("mode of %s = %v (%v), want the volume's 0777", got[0].Source, fi.Mode().Perm(), err)
			}
		})
	}
}

func TestObjectCacheSharesReads(t *testing.T) {
	client := fake.NewSimpleClientset(&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}})
	now := time.Unix(1000, 0)
	o := fakeObjects(client)
	o.ttl = 10 * time.Second
	o.now = func() time.Time { return now }
	gets := func() int {
		n := 0
		for _, a := range client.Actions() {
			if a.GetVerb() == "get" {
				n++
			}
		}
		return n
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := o.configMap(ctx, "default", "cfg"); err != nil {
			t.Fatal(err)
		}
		_, _ = o.configMap(ctx, "default", "gone")
	}
	if got := gets(); got != 2 {
		t.Errorf("GETs within the TTL = %d, want 2 (one per object, not-found included)", got)
	}
	now = now.Add(11 * time.Second)
	_, _ = o.configMap(ctx, "default", "cfg")
	if got := gets(); got != 3 {
		t.Errorf("GETs after the TTL = %d, want 3", got)
	}
	if len(o.cache) != 1 {
		t.Errorf("cache entries = %d, want 1 (expired ones dropped)", len(o.cache))
	}
}
