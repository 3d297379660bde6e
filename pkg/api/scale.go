package api

import (
	"fmt"
	"reflect"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// ScaleOf reads the autoscaling/v1 Scale view of an object of r with the scale
// subresource: spec.replicas (unset counts as 1), status.replicas and the
// selector, a LabelSelector or (ReplicationController) a label map.
func (r *Resource) ScaleOf(obj runtime.Object) (*autoscalingv1.Scale, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok && r.CRD != nil && r.CRD.Scale != nil {
		return customScaleOf(r.CRD.Scale, u)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	spec, status := structField(obj, "Spec"), structField(obj, "Status")
	if !spec.IsValid() || !status.IsValid() {
		return nil, fmt.Errorf("%T has no spec and status to scale", obj)
	}
	replicas := int32(1)
	switch r := spec.FieldByName("Replicas"); {
	case !r.IsValid():
		return nil, fmt.Errorf("%T has no spec.replicas", obj)
	case r.Kind() == reflect.Pointer && !r.IsNil():
		replicas = int32(r.Elem().Int())
	case r.Kind() == reflect.Int32:
		replicas = int32(r.Int())
	}
	var statusReplicas int32
	if r := status.FieldByName("Replicas"); r.IsValid() {
		statusReplicas = int32(r.Int())
	}
	selector := ""
	switch sel := spec.FieldByName("Selector").Interface().(type) {
	case *metav1.LabelSelector:
		if sel != nil {
			s, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				return nil, err
			}
			selector = s.String()
		}
	case map[string]string:
		selector = labels.SelectorFromSet(sel).String()
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: replicas},
		Status: autoscalingv1.ScaleStatus{Replicas: statusReplicas, Selector: selector},
	}, nil
}

// SetReplicas sets the replicas ScaleOf reads (spec.replicas, or a
// custom resource's specReplicasPath).
func (r *Resource) SetReplicas(obj runtime.Object, n int32) error {
	if u, ok := obj.(*unstructured.Unstructured); ok && r.CRD != nil && r.CRD.Scale != nil {
		return customSetReplicas(r.CRD.Scale, u, n)
	}
	spec := structField(obj, "Spec")
	if !spec.IsValid() {
		return fmt.Errorf("%T has no spec to scale", obj)
	}
	switch r := spec.FieldByName("Replicas"); {
	case r.Kind() == reflect.Pointer:
		r.Set(reflect.ValueOf(&n))
	case r.Kind() == reflect.Int32:
		r.SetInt(int64(n))
	default:
		return fmt.Errorf("%T has no spec.replicas", obj)
	}
	return nil
}
