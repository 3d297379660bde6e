package api

import (
	"context"
	"fmt"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"k8s.io/kubernetes/pkg/printers"
	printersinternal "k8s.io/kubernetes/pkg/printers/internalversion"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	// Every API group the table serves, registered in legacyscheme with
	// its internal types, conversions, defaulters and field labels.
	_ "k8s.io/kubernetes/pkg/apis/admissionregistration/install"
	_ "k8s.io/kubernetes/pkg/apis/apps/install"
	_ "k8s.io/kubernetes/pkg/apis/authorization/install"
	// TokenRequest's internal type, for NodeRestriction.
	_ "k8s.io/kubernetes/pkg/apis/authentication/install"
	_ "k8s.io/kubernetes/pkg/apis/autoscaling/install"
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	_ "k8s.io/kubernetes/pkg/apis/certificates/install"
	_ "k8s.io/kubernetes/pkg/apis/coordination/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/discovery/install"
	_ "k8s.io/kubernetes/pkg/apis/events/install"
	_ "k8s.io/kubernetes/pkg/apis/networking/install"
	_ "k8s.io/kubernetes/pkg/apis/node/install"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
	_ "k8s.io/kubernetes/pkg/apis/rbac/install"
	_ "k8s.io/kubernetes/pkg/apis/resource/install"
	_ "k8s.io/kubernetes/pkg/apis/scheduling/install"
	_ "k8s.io/kubernetes/pkg/apis/storage/install"
	_ "k8s.io/kubernetes/pkg/apis/storagemigration/install"
)

// upstream is the Strategy of a kind whose rules are Kubernetes' own
// registry strategy (k8s.io/kubernetes/pkg/registry/...): the object is
// converted to the internal version the upstream code works on, the
// strategy runs there, and the result is converted back. Defaulting is the
// versioned defaulters registered in legacyscheme, tables are upstream's
// printers, field selectors upstream's GetAttrs and field label
// conversions. Kubernetes' kube-apiserver does the same conversions on
// every request.
type upstream struct {
	gvk    schema.GroupVersionKind // the served version
	create rest.RESTCreateStrategy
	update rest.RESTUpdateStrategy
	// status is the strategy of the status subresource; nil when the kind
	// has none.
	status rest.RESTUpdateStrategy
	// getAttrs is upstream's GetAttrs on the internal object; nil: labels
	// and metadata.name/namespace only.
	getAttrs func(obj runtime.Object) (labels.Set, fields.Set, error)

	printedOnce sync.Once
	hasPrinter  bool
}

// StatusResetter is a Strategy that says which fields a status write
// leaves as they were, by version (upstream's status strategy's
// GetResetFields): an apply of status neither owns them nor conflicts on
// them.
type StatusResetter interface {
	StatusResetFields() map[fieldpath.APIVersion]*fieldpath.Set
}

// StatusResetFields is the status strategy's GetResetFields, if it has one.
func (u *upstream) StatusResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if rf, ok := u.status.(rest.ResetFieldsStrategy); ok {
		return rf.GetResetFields()
	}
	return nil
}

// upstreamStrategy is what a registry package exports: one value that is
// both the create and the update strategy.
type upstreamStrategy interface {
	rest.RESTCreateStrategy
	rest.RESTUpdateStrategy
}

// fromUpstream builds the Strategy of the v1 (or other served version)
// type of obj from its upstream strategies. status may be nil.
func fromUpstream(gvk schema.GroupVersionKind, st upstreamStrategy, status rest.RESTUpdateStrategy, getAttrs func(runtime.Object) (labels.Set, fields.Set, error)) *upstream {
	return &upstream{gvk: gvk, create: st, update: st, status: status, getAttrs: getAttrs}
}

var _ Strategy = (*upstream)(nil)

var tableGenerator = sync.OnceValue(func() *printers.HumanReadableGenerator {
	return printers.NewTableGenerator().With(printersinternal.AddHandlers)
})

func (u *upstream) internalGVK() schema.GroupVersionKind {
	return u.gvk.GroupKind().WithVersion(runtime.APIVersionInternal)
}

// toInternal converts a served object to a new internal one.
func (u *upstream) toInternal(obj runtime.Object) (runtime.Object, error) {
	in, err := legacyscheme.Scheme.New(u.internalGVK())
	if err != nil {
		return nil, err
	}
	if err := legacyscheme.Scheme.Convert(obj, in, nil); err != nil {
		return nil, fmt.Errorf("converting %s to the internal version: %w", u.gvk.Kind, err)
	}
	return in, nil
}

// fromInternal writes in back into the served object obj.
func (u *upstream) fromInternal(in, obj runtime.Object) {
	if err := External(in, obj); err != nil {
		// Conversions out of the internal version of a valid object do
		// not fail; an object that cannot be converted is a bug here.
		panic(err)
	}
}

// mutate runs f on the internal form of obj and writes the result back.
func (u *upstream) mutate(obj runtime.Object, f func(in runtime.Object)) {
	in, err := u.toInternal(obj)
	if err != nil {
		return
	}
	f(in)
	u.fromInternal(in, obj)
}

func (u *upstream) mutateUpdate(obj, old runtime.Object, f func(in, oldIn runtime.Object)) {
	in, err := u.toInternal(obj)
	if err != nil {
		return
	}
	oldIn, err := u.toInternal(old)
	if err != nil {
		return
	}
	f(in, oldIn)
	u.fromInternal(in, obj)
}

func (u *upstream) Default(obj runtime.Object) { legacyscheme.Scheme.Default(obj) }

func (u *upstream) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	u.mutate(obj, func(in runtime.Object) {
		// Strategies of kinds with a spec set generation 1 themselves.
		if m, err := meta.Accessor(in); err == nil {
			m.SetGeneration(0)
		}
		u.create.PrepareForCreate(ctx, in)
		u.create.Canonicalize(in)
	})
	// kube-apiserver defaults every object it decodes from etcd, so what a
	// strategy cleared (a PVC's status.phase) reads back defaulted; here
	// objects are defaulted once, before they are stored.
	legacyscheme.Scheme.Default(obj)
}

func (u *upstream) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	m, oldm, old, ok := beginUpdate(obj, old)
	if !ok {
		return
	}
	// As rest.BeforeUpdate: a request never sets generation.
	m.SetGeneration(oldm.GetGeneration())
	u.mutateUpdate(obj, old, func(in, oldIn runtime.Object) {
		u.update.PrepareForUpdate(ctx, in, oldIn)
		u.update.Canonicalize(in)
	})
	legacyscheme.Scheme.Default(obj)
}

func (u *upstream) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	m, oldm, old, ok := beginUpdate(obj, old)
	if !ok {
		return
	}
	m.SetGeneration(oldm.GetGeneration())
	if u.status == nil {
		return
	}
	u.mutateUpdate(obj, old, func(in, oldIn runtime.Object) {
		u.status.PrepareForUpdate(ctx, in, oldIn)
	})
	legacyscheme.Scheme.Default(obj)
}

func (u *upstream) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	in, err := u.toInternal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	errs := rest.ValidateCreate(ctx, in, u.create)
	if len(errs) == 0 {
		for _, w := range u.create.WarningsOnCreate(ctx, in) {
			warning.AddWarning(ctx, "", w)
		}
	}
	return errs
}

func (u *upstream) validateUpdate(ctx context.Context, st rest.RESTUpdateStrategy, obj, old runtime.Object) field.ErrorList {
	in, err := u.toInternal(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	oldIn, err := u.toInternal(old)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	errs := rest.ValidateUpdate(ctx, in, oldIn, st)
	if len(errs) == 0 {
		for _, w := range st.WarningsOnUpdate(ctx, in, oldIn) {
			warning.AddWarning(ctx, "", w)
		}
	}
	return errs
}

func (u *upstream) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return u.validateUpdate(ctx, u.update, obj, old)
}

func (u *upstream) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if u.status == nil {
		return nil
	}
	return u.validateUpdate(ctx, u.status, obj, old)
}

// BeforeDelete: no kind served through upstream deletes gracefully or
// has a terminating phase here (pods and namespaces have strategies of
// their own).
func (u *upstream) BeforeDelete(runtime.Object, *metav1.DeleteOptions, metav1.Time) (mark, done bool) {
	return false, false
}

func (u *upstream) Finalizing(runtime.Object) bool { return false }

func (u *upstream) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	if u.getAttrs == nil {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil, err
		}
		return labels.Set(m.GetLabels()), defaultFields(m, u.create.NamespaceScoped()), nil
	}
	in, err := u.toInternal(obj)
	if err != nil {
		return nil, nil, err
	}
	return u.getAttrs(in)
}

// defaultFields is generic.ObjectMetaFieldsSet: the name, and the
// namespace of a namespaced object.
func defaultFields(m metav1.Object, namespaced bool) fields.Set {
	fs := fields.Set{"metadata.name": m.GetName()}
	if namespaced {
		fs["metadata.namespace"] = m.GetNamespace()
	}
	return fs
}

func (u *upstream) FieldLabelSupported(label string) bool {
	_, _, err := legacyscheme.Scheme.ConvertFieldLabel(u.gvk, label, "")
	return err == nil
}

func (u *upstream) Table(objs []runtime.Object, opts TableOptions) (*metav1.Table, error) {
	listGVK := u.internalGVK()
	listGVK.Kind += "List"
	list, err := legacyscheme.Scheme.New(listGVK)
	if err != nil {
		return nil, err
	}
	items := make([]runtime.Object, 0, len(objs))
	for _, obj := range objs {
		in, err := u.toInternal(obj)
		if err != nil {
			return nil, err
		}
		items = append(items, in)
	}
	if err := meta.SetList(list, items); err != nil {
		return nil, err
	}
	if !u.printed() {
		// Kinds without printers get the server's default columns.
		return rest.NewDefaultTableConvertor(schema.GroupResource{}).ConvertToTable(context.Background(), list, &metav1.TableOptions{NoHeaders: opts.NoHeaders})
	}
	return tableGenerator().GenerateTable(list, printers.GenerateOptions{Wide: true, NoHeaders: opts.NoHeaders})
}

// printed tells whether upstream's printers have columns for the kind.
func (u *upstream) printed() bool {
	u.printedOnce.Do(func() {
		listGVK := u.internalGVK()
		listGVK.Kind += "List"
		list, err := legacyscheme.Scheme.New(listGVK)
		if err == nil {
			_, err = tableGenerator().GenerateTable(list, printers.GenerateOptions{})
		}
		u.hasPrinter = err == nil
	})
	return u.hasPrinter
}

// Internal converts a served object to Kubernetes' internal version, for
// upstream code that works on it (admission plugins).
func Internal(obj runtime.Object) (runtime.Object, error) {
	gvks, _, err := Scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	return (&upstream{gvk: gvks[0]}).toInternal(obj)
}

// External writes in, the internal form of obj's kind, back into obj.
func External(in, obj runtime.Object) error {
	gvks, _, err := Scheme.ObjectKinds(obj)
	if err != nil {
		return err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	v := reflect.ValueOf(obj).Elem()
	v.Set(reflect.Zero(v.Type()))
	if err := legacyscheme.Scheme.Convert(in, obj, nil); err != nil {
		return fmt.Errorf("converting %s from the internal version: %w", gvks[0].Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return nil
}
