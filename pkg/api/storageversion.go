package api

import (
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/registry/core/event"
)

// Second versions of stored resources, as kube-apiserver serves them: the
// objects live under the storage entry's keys in the storage entry's
// version, and each request is converted through the internal version
// (served → internal → storage, and back for what is answered).
//
// An entry with Storage set keeps its own group, version, kind, New and
// NewList (what the wire carries), but its Strategy works on objects of
// the storage version: the server converts before it asks the strategy
// anything. Field selectors name the served version's field labels; the
// server converts them with ConvertFieldLabel.
var servedVersions = []*Resource{
	// events.k8s.io/v1: the core/v1 Events, with upstream's event
	// strategy, which validates by the request's version (an
	// events.k8s.io Event needs eventTime, reportingController, action, …).
	{
		Group: "events.k8s.io", Version: "v1", Kind: "Event", ListKind: "EventList",
		Plural: "events", Singular: "event", ShortNames: []string{"ev"},
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &eventsv1.Event{} },
		NewList:    func() runtime.Object { return &eventsv1.EventList{} },
		Storage:    mustLookup("", "v1", "events"),
		Strategy:   fromUpstream(corev1.SchemeGroupVersion.WithKind("Event"), event.Strategy, nil, event.GetAttrs),
	},
	// autoscaling/v1: the autoscaling/v2 HorizontalPodAutoscalers.
	{
		Group: "autoscaling", Version: "v1", Kind: "HorizontalPodAutoscaler", ListKind: "HorizontalPodAutoscalerList",
		Plural: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"},
		Categories:   []string{"all"},
		Namespaced:   true,
		Subresources: []string{"status"},
		Verbs:        verbsAll,
		New:          func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscaler{} },
		NewList:      func() runtime.Object { return &autoscalingv1.HorizontalPodAutoscalerList{} },
		Storage:      mustLookup("autoscaling", "v2", "horizontalpodautoscalers"),
		Strategy:     mustLookup("autoscaling", "v2", "horizontalpodautoscalers").Strategy,
	},
}

func mustLookup(group, version, plural string) *Resource {
	r, ok := Lookup(group, version, plural)
	if !ok {
		panic(fmt.Sprintf("no resource %s/%s %s in the table", group, version, plural))
	}
	return r
}

func init() {
	// After the storage entries, so discovery prefers their versions.
	resources = append(resources, servedVersions...)
}

// Stored is the entry the server works with for r's requests: r itself,
// or for an entry with Storage a copy of the storage entry (its keys,
// types and version) carrying r's Strategy.
func (r *Resource) Stored() *Resource {
	if r.Storage == nil {
		return r
	}
	return r.Storage.WithStrategy(r.Strategy)
}

// ToStorage converts obj, of r's served version, to a new object of the
// storage version (r itself when r has no Storage).
func (r *Resource) ToStorage(obj runtime.Object) (runtime.Object, error) {
	if r.CRD != nil {
		if r.Storage == nil {
			return ConvertCustom(obj, r)
		}
		return ConvertCustom(obj, r.Storage)
	}
	if r.Storage == nil {
		return obj, nil
	}
	return convertThroughInternal(obj, r.Storage)
}

// FromStorage converts obj, of the storage version, to a new object of
// r's served version.
func (r *Resource) FromStorage(obj runtime.Object) (runtime.Object, error) {
	if r.CRD != nil {
		// Custom resources: objects stored before the storage version
		// changed are of another version, whatever entry asks.
		return ConvertCustom(obj, r)
	}
	if r.Storage == nil {
		return obj, nil
	}
	return convertThroughInternal(obj, r)
}

// convertThroughInternal converts obj to the version of to, as
// kube-apiserver does: to the internal version, then out of it. Both
// versions share one internal kind (the core Event for events.k8s.io).
func convertThroughInternal(obj runtime.Object, to *Resource) (runtime.Object, error) {
	internal := to.GroupVersionKind().GroupKind().WithVersion(runtime.APIVersionInternal)
	if to.Storage != nil {
		internal = to.Storage.GroupVersionKind().GroupKind().WithVersion(runtime.APIVersionInternal)
	}
	in, err := legacyscheme.Scheme.New(internal)
	if err != nil {
		return nil, err
	}
	if err := legacyscheme.Scheme.Convert(obj, in, nil); err != nil {
		return nil, fmt.Errorf("converting %T to the internal version: %w", obj, err)
	}
	out := to.New()
	if err := legacyscheme.Scheme.Convert(in, out, nil); err != nil {
		return nil, fmt.Errorf("converting to %s: %w", to.GroupVersionKind(), err)
	}
	out.GetObjectKind().SetGroupVersionKind(to.GroupVersionKind())
	return out, nil
}

// ConvertFieldLabel turns a field selector's label of r's served version
// into the label the storage strategy's Attrs give (events.k8s.io/v1's
// regarding.name is involvedObject.name), as upstream's field label
// conversions do; an error for a label the served version does not
// support.
func (r *Resource) ConvertFieldLabel(label, value string) (string, string, error) {
	if r.Storage == nil || r.CRD != nil {
		return label, value, nil
	}
	return legacyscheme.Scheme.ConvertFieldLabel(r.GroupVersionKind(), label, value)
}
