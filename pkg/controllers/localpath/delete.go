package localpath

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"minik8s/pkg/controllers/reconcile"
)

// HelperTimeout is how long a helper pod may take (rancher's default).
const HelperTimeout = 2 * time.Minute

// HelperPodName is the name of the pod that deletes a volume's data.
func HelperPodName(pvName string) string { return "helper-pod-delete-" + pvName }

// syncVolume deletes a released volume of ours with reclaim policy Delete:
// first its data, by a helper pod on its node, then the object.
func (c *Controller) syncVolume(ctx context.Context, name string) (reconcile.Result, error) {
	pod, err := c.pods.Pods(HelperNamespace).Get(HelperPodName(name))
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, err
	}
	if apierrors.IsNotFound(err) {
		pod = nil
	}
	pv, err := c.pvs.Get(name)
	if apierrors.IsNotFound(err) {
		// Deleted: a finished helper goes too.
		if pod != nil && finished(pod) {
			return reconcile.Result{}, c.deletePod(ctx, pod)
		}
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	if pv.Annotations[storagehelpers.AnnDynamicallyProvisioned] != Provisioner ||
		pv.Status.Phase != corev1.VolumeReleased ||
		pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
		pv.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	if pod == nil {
		// The cache may still show a volume this controller has just
		// deleted (with its helper pod, whose deletion brought us here):
		// only a volume the API still has, Released, gets a helper.
		live, err := c.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, nil
		}
		if err != nil {
			return reconcile.Result{}, err
		}
		if live.UID != pv.UID || live.DeletionTimestamp != nil || live.Status.Phase != corev1.VolumeReleased {
			return reconcile.Result{}, nil
		}
		helper, err := c.helperPod(pv)
		if err != nil {
			c.recorder.Event(pv, corev1.EventTypeWarning, EventVolumeFailedDelete, err.Error())
			return reconcile.Result{}, nil
		}
		_, err = c.client.CoreV1().Pods(HelperNamespace).Create(ctx, helper, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return reconcile.Result{}, fmt.Errorf("creating helper pod for volume %s: %w", name, err)
		}
		return reconcile.Result{}, nil
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("deleting volume %s: %w", name, err)
		}
		return reconcile.Result{}, c.deletePod(ctx, pod)
	case corev1.PodFailed:
		c.recorder.Event(pv, corev1.EventTypeWarning, EventVolumeFailedDelete, fmt.Sprintf("helper pod %s/%s failed to remove the volume's data; trying again", pod.Namespace, pod.Name))
		if err := c.deletePod(ctx, pod); err != nil {
			return reconcile.Result{}, err
		}
		return reconcile.Result{}, fmt.Errorf("helper pod for volume %s failed", name)
	}
	// Pending or running: its completion brings us back, unless it takes
	// longer than HelperTimeout (its node is down, say); then it is
	// deleted and tried again with back-off, as rancher's times out.
	if age := c.now().Sub(pod.CreationTimestamp.Time); age < HelperTimeout {
		return reconcile.After(HelperTimeout - age), nil
	}
	c.recorder.Event(pv, corev1.EventTypeWarning, EventVolumeFailedDelete, fmt.Sprintf("helper pod %s/%s did not finish within %s; trying again", pod.Namespace, pod.Name, HelperTimeout))
	if err := c.deletePod(ctx, pod); err != nil {
		return reconcile.Result{}, err
	}
	return reconcile.Result{}, fmt.Errorf("helper pod for volume %s timed out", name)
}

func finished(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod) error {
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting helper pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// volumePlace returns the volume's directory and node, refusing a path
// outside the root.
func (c *Controller) volumePlace(pv *corev1.PersistentVolume) (dir, node string, err error) {
	switch {
	case pv.Spec.HostPath != nil:
		dir = pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		dir = pv.Spec.Local.Path
	default:
		return "", "", fmt.Errorf("volume %s is neither hostPath nor local", pv.Name)
	}
	dir = filepath.Clean(dir)
	root := filepath.Clean(c.cfg.Root)
	if !strings.HasPrefix(dir, root+string(filepath.Separator)) {
		return "", "", fmt.Errorf("volume %s: path %q is not under the local-path root %q; not removing it", pv.Name, dir, root)
	}
	if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
		for _, term := range na.Required.NodeSelectorTerms {
			for _, r := range term.MatchExpressions {
				if r.Key == corev1.LabelHostname && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
					node = r.Values[0]
				}
			}
		}
	}
	if node == "" {
		return "", "", fmt.Errorf("volume %s has no node affinity to one node", pv.Name)
	}
	return dir, c.nodeNamed(node), nil
}

// nodeNamed maps a hostname label value to its node's name (the same in
// the lab and mostly elsewhere).
func (c *Controller) nodeNamed(hostname string) string {
	if _, err := c.nodes.Get(hostname); err == nil {
		return hostname
	}
	nodes, _ := c.nodes.List(labels.Everything())
	for _, n := range nodes {
		if n.Labels[corev1.LabelHostname] == hostname {
			return n.Name
		}
	}
	return hostname
}

// helperPod is the pod that removes the volume's directory on its node.
func (c *Controller) helperPod(pv *corev1.PersistentVolume) (*corev1.Pod, error) {
	dir, node, err := c.volumePlace(pv)
	if err != nil {
		return nil, err
	}
	if dir == "" || node == "" {
		return nil, errors.New("no directory or node")
	}
	parent := filepath.Dir(dir)
	dirType := corev1.HostPathDirectoryOrCreate
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      HelperPodName(pv.Name),
			Namespace: HelperNamespace,
			Labels:    map[string]string{LabelVolume: pv.Name},
			// Owned by the volume: the garbage collector removes a helper
			// left behind once the volume is gone.
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "PersistentVolume", Name: pv.Name, UID: pv.UID}},
		},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: corev1.RestartPolicyNever,
			Tolerations:   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name:         "helper-pod",
				Image:        c.cfg.HelperImage,
				Command:      []string{"/bin/sh", "-c", `rm -rf "$VOL_DIR"`},
				Env:          []corev1.EnvVar{{Name: "VOL_DIR", Value: dir}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: parent}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: parent, Type: &dirType}}}},
		},
	}, nil
}
