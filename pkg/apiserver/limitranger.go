package apiserver

import (
	"fmt"

	"minik8s/pkg/api"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/endpoints/request"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/kubernetes/plugin/pkg/admission/limitranger"
)

// limitRanger is Kubernetes' LimitRanger admission, with the plugin's own
// limit functions (limitranger.DefaultLimitRangerActions): a namespace's
// LimitRanges default the requests and limits of new pods' containers and
// refuse pods and PersistentVolumeClaims outside their min/max (403, in
// upstream's words). LimitRanges are read through an informer on the
// server's own API, as kube-apiserver's loopback does, and the limit
// functions work on the internal version of the object. Unlike the
// plugin, a namespace the informer shows without LimitRanges is not
// looked up again in the store.
type limitRanger struct {
	limits  corev1listers.LimitRangeLister
	actions limitranger.DefaultLimitRangerActions
}

var pvcResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

func (*limitRanger) handles(gr schema.GroupResource) bool {
	return gr == podsResource || gr == pvcResource
}

// admitCreate limits pods and claims; updates of pods are not limited
// (their containers cannot change), updates of claims are.
func (l *limitRanger) admitCreate(k *call, obj runtime.Object) (func(), error) {
	return nil, l.admit(k, obj, nil, admission.Create, &metav1.CreateOptions{})
}

func (l *limitRanger) admitUpdate(k *call, obj, cur runtime.Object) error {
	if k.gr() == podsResource {
		return nil
	}
	return l.admit(k, obj, cur, admission.Update, &metav1.UpdateOptions{})
}

// admit runs the mutation then the validation of every LimitRange of the
// namespace on the internal form of obj, and writes the result back.
func (l *limitRanger) admit(k *call, obj, old runtime.Object, op admission.Operation, opts runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	if old != nil {
		// Objects being deleted are not limited.
		if om, err := meta.Accessor(old); err == nil && om.GetDeletionTimestamp() != nil {
			return nil
		}
	}
	ranges, err := l.limits.LimitRanges(m.GetNamespace()).List(labels.Everything())
	if err != nil || len(ranges) == 0 {
		return err
	}
	in, attrs, err := internalAttributes(k, obj, op, opts)
	if err != nil {
		return err
	}
	if err := l.each(ranges, attrs, l.actions.MutateLimit); err != nil {
		return err
	}
	if err := l.each(ranges, attrs, l.actions.ValidateLimit); err != nil {
		return err
	}
	if err := api.External(in, obj); err != nil {
		return fmt.Errorf("limit ranges: %w", err)
	}
	return nil
}

// internalAttributes are the admission attributes upstream's in-tree
// plugins take: the internal form of obj (which they change in place, for
// the caller to write back with api.External), the request's kind,
// resource, operation, options and user.
func internalAttributes(k *call, obj runtime.Object, op admission.Operation, opts runtime.Object) (runtime.Object, admission.Attributes, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	in, err := api.Internal(obj)
	if err != nil {
		return nil, nil, err
	}
	u, _ := request.UserFrom(k.ctx())
	return in, admission.NewAttributesRecord(in, nil, k.r.GroupVersionKind(), m.GetNamespace(), m.GetName(),
		k.r.GroupVersionResource(), "", op, opts, k.dryRun(), u), nil
}

func (l *limitRanger) each(ranges []*corev1.LimitRange, attrs admission.Attributes, fn func(*corev1.LimitRange, string, runtime.Object) error) error {
	for _, lr := range ranges {
		if err := fn(lr, attrs.GetResource().Resource, attrs.GetObject()); err != nil {
			return admission.NewForbidden(attrs, err)
		}
	}
	return nil
}
