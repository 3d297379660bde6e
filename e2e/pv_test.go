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
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestPersistentVolumeProvisioning: a claim of the default class
// (local-path, WaitForFirstConsumer) waits for its first pod; the scheduler
// picks the pod's node, the provisioner makes a hostPath volume with that
// node's affinity under the lab's state directory, the claim binds and the
// pod is bound to the node. Deleting the claim has a helper pod on that
// node remove the volume's data, then the volume goes. Whether the pod
// starts depends on the agent mounting persistentVolumeClaim volumes, which
// is not checked here: only binding and scheduling are.
func TestPersistentVolumeProvisioning(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()

	sc, err := cs.StorageV1().StorageClasses().Get(ctx, "local-path", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the local-path StorageClass: %v", err)
	}
	if sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		t.Fatalf("got class %+v, want the default, WaitForFirstConsumer", sc)
	}

	claim, err := cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("128Mi")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the claim gets the default class and waits for its first consumer", func() error {
		c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c.Spec.StorageClassName == nil || *c.Spec.StorageClassName != "local-path" || c.Status.Phase != corev1.ClaimPending {
			return fmt.Errorf("class %v, phase %s", c.Spec.StorageClassName, c.Status.Phase)
		}
		return claimEvent(ns, "data", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
	})

	pod := toolboxPod("app", "", "echo hello > /data/hello; sleep 3600", corev1.RestartPolicyNever)
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var node string
	eventually(t, 30*time.Second, "the pod is bound to a node", func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if node = p.Spec.NodeName; node == "" {
			return fmt.Errorf("not bound: %+v", p.Status.Conditions)
		}
		return nil
	})
	pvName := "pvc-" + string(claim.UID)
	var pv *corev1.PersistentVolume
	eventually(t, 20*time.Second, "the claim and its volume are Bound", func() error {
		c, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if c.Status.Phase != corev1.ClaimBound || c.Spec.VolumeName != pvName {
			return fmt.Errorf("claim phase %s, volume %q", c.Status.Phase, c.Spec.VolumeName)
		}
		if c.Annotations["volume.kubernetes.io/selected-node"] != node {
			return fmt.Errorf("claim selected node %q, want %q", c.Annotations["volume.kubernetes.io/selected-node"], node)
		}
		if pv, err = cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); err != nil {
			return err
		}
		if pv.Status.Phase != corev1.VolumeBound {
			return fmt.Errorf("volume phase %s", pv.Status.Phase)
		}
		return nil
	})
	terms := pv.Spec.NodeAffinity.Required.NodeSelectorTerms
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 || terms[0].MatchExpressions[0].Key != corev1.LabelHostname ||
		len(terms[0].MatchExpressions[0].Values) != 1 || terms[0].MatchExpressions[0].Values[0] != node {
		t.Errorf("got node affinity %+v, want kubernetes.io/hostname in [%s]", terms, node)
	}
	dir := pv.Spec.HostPath.Path
	if !strings.Contains(dir, "/storage/"+node+"/"+pvName+"_"+ns+"_data") || pv.Annotations["pv.kubernetes.io/provisioned-by"] == "" {
		t.Errorf("got hostPath %q, annotations %v, want <lab>/storage/%s/%s_%s_data, provisioned-by", dir, pv.Annotations, node, pvName, ns)
	}
	if out, err := ctl("get", "pv,pvc", "-n", ns); err != nil || !strings.Contains(out, pvName) {
		t.Errorf("ctl get pv,pvc: %v\n%s", err, out)
	} else {
		t.Logf("ctl get pv,pvc:\n%s", out)
	}

	// The volume's data (made here, whether or not the pod could write
	// it) goes with the claim.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "app", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the pod is gone", func() error {
		if _, err := cs.CoreV1().Pods(ns).Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	if err := cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 45*time.Second, "the volume and its data are deleted", func() error {
		if _, err := cs.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			h, _ := cs.CoreV1().Pods("kube-system").Get(ctx, "helper-pod-delete-"+pvName, metav1.GetOptions{})
			return fmt.Errorf("volume still there (%v); helper pod %s on %q", err, h.Status.Phase, h.Spec.NodeName)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			return fmt.Errorf("%s still there (%v)", dir, err)
		}
		return nil
	})
}

func claimEvent(ns, claim, reason, message string) error {
	evs, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == claim && e.Reason == reason && e.Message == message {
			return nil
		}
	}
	return fmt.Errorf("no %s event %q on claim %s", reason, message, claim)
}
