package api

import (
	"context"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one served resource: how it is named on the wire,
// whether it is namespaced, which subresources it has, and the strategy
// the API server applies to it.
type Resource struct {
	Group      string // "" for core
	Version    string
	Kind       string
	ListKind   string
	Plural     string // the path segment: "pods"
	Singular   string
	ShortNames []string
	// Categories for discovery ("all" lets `get all` find the resource).
	Categories []string
	Namespaced bool
	// Subresources served under /{plural}/{name}/…: "status", "scale",
	// "binding", "log", "exec", "finalize".
	Subresources []string
	// Verbs for discovery, as Kubernetes lists them.
	Verbs []string

	// New returns an empty typed object (e.g. &corev1.Pod{}); NewList the
	// typed list (&corev1.PodList{}).
	New     func() runtime.Object
	NewList func() runtime.Object

	Strategy Strategy
	// StatusLike are subresources written like status (the rest of the
	// object kept, PrepareForStatusUpdate and ValidateStatusUpdate) through
	// a strategy of their own: certificatesigningrequests/approval.
	StatusLike map[string]Strategy

	// Storage, when set, is the entry whose objects this one serves in
	// another version (events.k8s.io/v1 Events are the core/v1 ones):
	// same keys, stored in Storage's version, converted on each request,
	// and Strategy works on objects of Storage's version (see Stored).
	Storage *Resource

	// CRD is set on custom resources: what the entry keeps of its
	// CustomResourceDefinition.
	CRD *CustomResourceInfo

	// Virtual resources are never stored: create is their only verb and
	// the server computes the answer (TokenReview, SubjectAccessReview,
	// SelfSubjectReview). They have no Strategy and no NewList; the
	// apiserver registers what answers each.
	Virtual bool
}

// Strategy is what the API server asks of a resource on each write. obj is
// always the typed object from New(), already decoded. ctx carries the
// request's namespace, user and warning recorder (k8s.io/apiserver's
// request and warning packages), as upstream strategies expect.
type Strategy interface {
	// Default fills in Kubernetes' defaults (restartPolicy Always, …).
	Default(obj runtime.Object)
	// PrepareForCreate resets what a client may not set on create (status
	// for most kinds, generation = 1).
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	// PrepareForUpdate keeps what a main-resource update may not change
	// (status) and moves generation when the spec changed.
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	// PrepareForStatusUpdate keeps everything but status from old.
	PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object)
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// Attrs gives the labels and the selectable fields (metadata.name,
	// metadata.namespace and the kind's own, e.g. spec.nodeName).
	Attrs(obj runtime.Object) (labels.Set, fields.Set, error)
	// FieldLabelSupported tells whether a field selector may name label.
	FieldLabelSupported(label string) bool
	// BeforeDelete decides what a DELETE of obj (a copy of the stored
	// object, which it may change) turns into before finalizers count:
	// mark true when obj is to be written back rather than removed
	// (a pod's graceful deletion, a namespace turning Terminating), done
	// true when the object is already being deleted as asked and the
	// stored one is the answer.
	BeforeDelete(obj runtime.Object, opts *metav1.DeleteOptions, now metav1.Time) (mark, done bool)
	// Finalizing tells whether obj still waits on finalizers of its kind
	// (a namespace's spec.finalizers), beyond metadata.finalizers.
	Finalizing(obj runtime.Object) bool
	// Table renders objects as kubectl's server-side columns; objs are
	// typed objects of this resource.
	Table(objs []runtime.Object, opts TableOptions) (*metav1.Table, error)
}

// TableOptions mirrors the parts of metav1.TableOptions the tables use.
type TableOptions struct {
	NoHeaders bool
	// Wide is accepted for symmetry with kubectl's printer options; the
	// tables always carry the cells of priority > 0 columns, as
	// Kubernetes' server does, and kubectl hides them unless -o wide.
	Wide bool
}

// GroupVersion is the resource's group/version.
func (r *Resource) GroupVersion() schema.GroupVersion {
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// GroupVersionKind is the resource's kind with its group/version.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GroupVersion().WithKind(r.Kind)
}

// GroupVersionResource is the resource's group/version/plural.
func (r *Resource) GroupVersionResource() schema.GroupVersionResource {
	return r.GroupVersion().WithResource(r.Plural)
}

// strategyViews holds the views WithStrategy made.
var strategyViews sync.Map // viewKey → *Resource

type viewKey struct {
	r  *Resource
	st Strategy
}

// WithStrategy is r written through st: the same entry with another
// strategy (a second version's requests on the storage entry, a
// status-like subresource). Each view is made once, so it is the same
// *Resource on every request (the server keys its field managers by it).
func (r *Resource) WithStrategy(st Strategy) *Resource {
	key := viewKey{r, st}
	if v, ok := strategyViews.Load(key); ok {
		return v.(*Resource)
	}
	view := *r
	view.Strategy = st
	v, _ := strategyViews.LoadOrStore(key, &view)
	return v.(*Resource)
}

// HasSubresource tells whether r serves sub.
func (r *Resource) HasSubresource(sub string) bool {
	return slices.Contains(r.Subresources, sub)
}
