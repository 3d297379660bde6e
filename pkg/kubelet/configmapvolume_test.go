package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

func TestProjectConfigMapVolumes(t *testing.T) {
	get := func(_ context.Context, ns, name string) (*v1.ConfigMap, error) {
		if ns == "kube-system" && name == "coredns" {
			return &v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"Corefile": ".:53 {}\n", "other": "x"}}, nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
	}
	vol := func(src v1.ConfigMapVolumeSource) v1.Volume {
		return v1.Volume{Name: "config-volume", VolumeSource: v1.VolumeSource{ConfigMap: &src}}
	}
	tests := []struct {
		name      string
		vol       v1.Volume
		wantFiles map[string]os.FileMode
		wantErr   bool
	}{
		{"every key", vol(v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "coredns"}}),
			map[string]os.FileMode{"Corefile": 0o644, "other": 0o644}, false},
		{"items with modes", vol(v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "coredns"}, DefaultMode: ptr.To[int32](0o600),
			Items: []v1.KeyToPath{{Key: "Corefile", Path: "Corefile"}, {Key: "other", Path: "sub/o", Mode: ptr.To[int32](0o640)}}}),
			map[string]os.FileMode{"Corefile": 0o600, "sub/o": 0o640}, false},
		{"missing key", vol(v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "coredns"}, Items: []v1.KeyToPath{{Key: "nope", Path: "x"}}}), nil, true},
		{"missing ConfigMap", vol(v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "absent"}}), nil, true},
		{"missing optional ConfigMap", vol(v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "absent"}, Optional: ptr.To(true)}), map[string]os.FileMode{}, false},
		{"path leaving the volume", vol(v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "coredns"}, Items: []v1.KeyToPath{{Key: "other", Path: "../x"}}}), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			podDir := t.TempDir()
			pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1", Namespace: "kube-system"}, Spec: v1.PodSpec{Volumes: []v1.Volume{tt.vol}}}
			err := projectConfigMapVolumes(context.Background(), get, pod, podDir)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			for f, mode := range tt.wantFiles {
				fi, err := os.Stat(filepath.Join(podDir, "volumes", "config-volume", f))
				if err != nil {
					t.Fatalf("got %v, want file %s", err, f)
				}
				if fi.Mode().Perm() != mode {
					t.Errorf("%s: got mode %v, want %v", f, fi.Mode().Perm(), mode)
				}
			}
		})
	}
}
