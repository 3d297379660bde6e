package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/storage/names"
	corev1listers "k8s.io/client-go/listers/core/v1"
	token "k8s.io/kubernetes/pkg/serviceaccount"
	"k8s.io/utils/ptr"
)

// The ServiceAccount admission plugin's names, as upstream's
// (plugin/pkg/admission/serviceaccount).
const (
	serviceAccountPluginName = "ServiceAccount"
	defaultServiceAccount    = "default"
	// serviceAccountVolumePrefix starts the name of the projected volume.
	serviceAccountVolumePrefix = "kube-api-access-"
	// serviceAccountMountPath is where client-go's in-cluster config
	// looks for the token, the CA and the namespace.
	serviceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	rootCAConfigMap         = "kube-root-ca.crt"
)

// serviceAccountAdmission is Kubernetes' ServiceAccount admission plugin
// for pod creates: the pod's spec.serviceAccountName defaults to
// "default"; a pod whose ServiceAccount does not exist is refused (403);
// unless the pod or its ServiceAccount says automountServiceAccountToken:
// false, a projected volume kube-api-access-XXXXX (a bound token of
// 3607 s, the namespace's kube-root-ca.crt, the namespace) is mounted
// read-only at /var/run/secrets/kubernetes.io/serviceaccount in every
// init and app container that has nothing there; the ServiceAccount's
// imagePullSecrets are the pod's when it has none; mirror pods may not
// name a ServiceAccount, Secrets or token projections. The
// ServiceAccount is read through an informer, then from the store when
// the informer has not seen it; "default", which the
// controller-manager makes in each new namespace, is waited for as
// upstream does (10 reads 100–200 ms apart). Ephemeral containers, added
// through a subresource upstream and not served here, get no mount, as
// upstream's plugin mounts none either. The deprecated
// kubernetes.io/enforce-mountable-secrets annotation is not enforced.
type serviceAccountAdmission struct {
	s *Server
	// lister is the informer's view; a miss is read again from the
	// store (a ServiceAccount just made), as upstream falls back to a
	// live read.
	lister corev1listers.ServiceAccountLister
	// retry is the wait between reads of a missing "default".
	retry func() time.Duration
}

func newServiceAccountAdmission(s *Server) *serviceAccountAdmission {
	return &serviceAccountAdmission{s: s, lister: s.loopback.serviceAccountLister(), retry: func() time.Duration {
		return time.Duration(100+rand.IntN(100)) * time.Millisecond
	}}
}

func (*serviceAccountAdmission) handles(gr schema.GroupResource) bool { return gr == podsResource }

func (a *serviceAccountAdmission) admitCreate(k *call, obj runtime.Object) (func(), error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return nil, validateMirrorPod(pod)
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = defaultServiceAccount
		pod.Spec.DeprecatedServiceAccount = defaultServiceAccount //nolint:staticcheck // set for compatibility, as upstream
	}
	sa, err := a.serviceAccount(k.ctx(), k.ns, pod.Spec.ServiceAccountName)
	if err != nil {
		return nil, apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("error looking up service account %s/%s: %w", k.ns, pod.Spec.ServiceAccountName, err))
	}
	if shouldAutomount(sa, pod) {
		mountServiceAccountToken(pod, names.SimpleNameGenerator.GenerateName)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	return nil, nil
}

// serviceAccount reads ns/name, waiting a little for "default" as
// upstream's getServiceAccount does.
func (a *serviceAccountAdmission) serviceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	if sa, err := a.lister.ServiceAccounts(ns).Get(name); err == nil {
		return sa, nil
	}
	attempts := 1
	if name == defaultServiceAccount {
		attempts = 10
	}
	getter := storeTokenGetter{a.s.store}
	for i := 0; i < attempts; i++ {
		if i > 0 {
			select {
			case <-time.After(a.retry()):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		sa, err := getter.GetServiceAccount(ctx, ns, name)
		if err == nil {
			return sa, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return nil, apierrors.NewNotFound(corev1.Resource("serviceaccount"), name)
}

func shouldAutomount(sa *corev1.ServiceAccount, pod *corev1.Pod) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken is upstream's: the pod's kube-api-access-*
// volume if it has one, else a new one, mounted in every init and app
// container without a mount at the path.
func mountServiceAccountToken(pod *corev1.Pod, generateName func(string) string) {
	volName := ""
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, serviceAccountVolumePrefix) {
			volName = v.Name
			break
		}
	}
	hasVolume := volName != ""
	if !hasVolume {
		volName = generateName(serviceAccountVolumePrefix)
	}
	mount := corev1.VolumeMount{Name: volName, ReadOnly: true, MountPath: serviceAccountMountPath}
	needs := false
	add := func(cs []corev1.Container) {
		for i := range cs {
			has := false
			for _, m := range cs[i].VolumeMounts {
				if m.MountPath == serviceAccountMountPath {
					has = true
					break
				}
			}
			if !has {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
				needs = true
			}
		}
	}
	add(pod.Spec.InitContainers)
	add(pod.Spec.Containers)
	if !hasVolume && needs {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: volName, VolumeSource: corev1.VolumeSource{Projected: tokenVolumeSource()}})
	}
}

// tokenVolumeSource is upstream's TokenVolumeSource in v1 form.
func tokenVolumeSource() *corev1.ProjectedVolumeSource {
	return &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](corev1.ProjectedVolumeSourceDefaultMode),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](token.WarnOnlyBoundTokenExpirationSeconds)}},
			{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: rootCAConfigMap},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path:     "namespace",
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
			}}}},
		},
	}
}

// validateMirrorPod refuses what a mirror pod (a node's static pod) may
// not have, in upstream's words.
func validateMirrorPod(pod *corev1.Pod) error {
	forbid := func(msg string) error { return apierrors.NewForbidden(podsResource, pod.Name, errors.New(msg)) }
	if pod.Spec.ServiceAccountName != "" {
		return forbid("a mirror pod may not reference service accounts")
	}
	secrets, tokens := len(pod.Spec.ImagePullSecrets) > 0, false
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Secret != nil:
			secrets = true
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					secrets = true
				}
				if src.ServiceAccountToken != nil {
					tokens = true
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				secrets = true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secrets = true
			}
		}
	}
	if secrets {
		return forbid("a mirror pod may not reference secrets")
	}
	if tokens {
		return forbid("a mirror pod may not use ServiceAccountToken volume projections")
	}
	return nil
}
