package api

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Custom resources: the entries of Established CustomResourceDefinitions,
// made from the definition (SetCustomResources) and served like the
// others. Objects are *unstructured.Unstructured; the rules are
// apiextensions-apiserver's: structural pruning and defaulting on decode,
// its custom resource strategy (schema and CEL validation, status and
// scale), its table convertor for additionalPrinterColumns.

// Table is the built-in resources followed by a set of custom ones: what
// one server serves (each server keeps its own, made from the
// definitions in its etcd).
type Table struct {
	all []*Resource
	// custom finds a custom resource's entry by kind, for each object
	// read from storage.
	custom map[schema.GroupVersionKind]*Resource
}

// NewTable is the built-in table plus custom.
func NewTable(custom []*Resource) *Table {
	t := &Table{all: append(slices.Clip(resources), custom...), custom: make(map[schema.GroupVersionKind]*Resource, len(custom))}
	for _, r := range custom {
		t.custom[r.GroupVersionKind()] = r
	}
	return t
}

// LookupCustom finds the custom resource entry of gvk.
func (t *Table) LookupCustom(gvk schema.GroupVersionKind) (*Resource, bool) {
	if t == nil {
		return nil, false
	}
	r, ok := t.custom[gvk]
	return r, ok
}

// Resources returns every resource of t, in discovery order; nil t is
// the built-in table. The slice is shared: do not modify it.
func (t *Table) Resources() []*Resource {
	if t == nil {
		return resources
	}
	return t.all
}

// Lookup finds a resource of t by group, version and plural.
func (t *Table) Lookup(group, version, plural string) (*Resource, bool) {
	for _, r := range t.Resources() {
		if r.Group == group && r.Version == version && r.Plural == plural {
			return r, true
		}
	}
	return nil, false
}

// LookupKind finds a resource of t by its group/version/kind.
func (t *Table) LookupKind(gvk schema.GroupVersionKind) (*Resource, bool) {
	for _, r := range t.Resources() {
		if r.Group == gvk.Group && r.Version == gvk.Version && r.Kind == gvk.Kind {
			return r, true
		}
	}
	return nil, false
}

// Custom tells whether r is a custom resource.
func (r *Resource) Custom() bool { return r.CRD != nil }

// StorageName is the resource's segment of the storage keys: the plural
// of a built-in kind, group/plural for a custom resource (as
// kube-apiserver keys them), so that two groups' "certificates" do not
// share keys.
func (r *Resource) StorageName() string {
	if r.CRD != nil {
		return r.Group + "/" + r.Plural
	}
	return r.Plural
}

// CustomResources makes the entries of crd's served versions, the
// storage version's first; the other versions are converted to it (the
// None conversion strategy: only apiVersion changes). A definition whose
// schema cannot be served is an error, as in kube-apiserver.
func CustomResources(crd *apiextensionsv1.CustomResourceDefinition) ([]*Resource, error) {
	crd = crd.DeepCopy() // the entries keep it
	storageVersion, err := apihelpers.GetCRDStorageVersion(crd)
	if err != nil {
		return nil, err
	}
	var stored *Resource
	var others []*Resource
	tc := sync.OnceValues(func() (managedfields.TypeConverter, error) { return customTypeConverter(crd) })
	for _, v := range crd.Spec.Versions {
		if !v.Served && !v.Storage {
			continue
		}
		r, err := customResource(crd, v)
		if err != nil {
			return nil, fmt.Errorf("serving %s version %s: %w", crd.Name, v.Name, err)
		}
		r.CRD.TypeConverter = tc
		if v.Name == storageVersion {
			stored = r
			continue
		}
		others = append(others, r)
	}
	if stored == nil {
		return nil, fmt.Errorf("serving %s: no storage version", crd.Name)
	}
	var out []*Resource
	if apihelpers.HasServedCRDVersion(crd, storageVersion) {
		out = append(out, stored)
	}
	for _, r := range others {
		if !apihelpers.HasServedCRDVersion(crd, r.Version) {
			continue
		}
		r.Storage = stored
		out = append(out, r)
	}
	// Discovery lists versions by Kubernetes' version priority (v2 before
	// v1beta1), and the first one is the group's preferred version.
	slices.SortStableFunc(out, func(a, b *Resource) int {
		return -versionCompare(a.Version, b.Version)
	})
	return out, nil
}

func customResource(crd *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion) (*Resource, error) {
	names := crd.Status.AcceptedNames
	gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: names.Kind}
	listGVK := gvk.GroupVersion().WithKind(names.ListKind)
	namespaced := crd.Spec.Scope == apiextensionsv1.NamespaceScoped

	validation, err := apihelpers.GetSchemaForVersion(crd, v.Name)
	if err != nil {
		return nil, err
	}
	var internalSchema *apiextensionsinternal.JSONSchemaProps
	var structural *structuralschema.Structural
	if validation != nil && validation.OpenAPIV3Schema != nil {
		in := &apiextensionsinternal.CustomResourceValidation{}
		if err := apiextensionsv1.Convert_v1_CustomResourceValidation_To_apiextensions_CustomResourceValidation(validation, in, nil); err != nil {
			return nil, err
		}
		internalSchema = in.OpenAPIV3Schema
		s, err := structuralschema.NewStructural(internalSchema)
		if err != nil && !crd.Spec.PreserveUnknownFields {
			return nil, fmt.Errorf("the schema is not structural: %w", err)
		}
		if s != nil {
			s = s.DeepCopy()
			if err := structuraldefaulting.PruneDefaults(s); err != nil {
				return nil, err
			}
		}
		structural = s
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(internalSchema)
	if err != nil {
		return nil, err
	}

	subresources, err := apihelpers.GetSubresourcesForVersion(crd, v.Name)
	if err != nil {
		return nil, err
	}
	var subs []string
	var statusSpec *apiextensionsinternal.CustomResourceSubresourceStatus
	var statusValidator apiservervalidation.SchemaValidator
	var scaleSpec *apiextensionsinternal.CustomResourceSubresourceScale
	if subresources != nil && subresources.Status != nil {
		subs = append(subs, "status")
		statusSpec = &apiextensionsinternal.CustomResourceSubresourceStatus{}
		if internalSchema != nil {
			if st, ok := internalSchema.Properties["status"]; ok {
				if statusValidator, _, err = apiservervalidation.NewSchemaValidator(&st); err != nil {
					return nil, err
				}
			}
		}
	}
	if subresources != nil && subresources.Scale != nil {
		subs = append(subs, "scale")
		scaleSpec = &apiextensionsinternal.CustomResourceSubresourceScale{}
		if err := apiextensionsv1.Convert_v1_CustomResourceSubresourceScale_To_apiextensions_CustomResourceSubresourceScale(subresources.Scale, scaleSpec, nil); err != nil {
			return nil, err
		}
	}

	columns := v.AdditionalPrinterColumns
	if len(columns) == 0 {
		columns = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"}}
	}
	table, err := tableconvertor.New(columns)
	if err != nil {
		// As kube-apiserver: an invalid printer specification falls back to
		// the default columns.
		table = rest.NewDefaultTableConvertor(schema.GroupResource{Group: crd.Spec.Group, Resource: names.Plural})
	}

	st := customresource.NewStrategy(unstructuredTyper{}, namespaced, gvk, validator, statusValidator, structural, statusSpec, scaleSpec, v.SelectableFields)
	cs := &crStrategy{
		gvk:        gvk,
		namespaced: namespaced,
		structural: structural,
		preserve:   crd.Spec.PreserveUnknownFields,
		main:       st,
		table:      table,
	}
	if statusSpec != nil {
		cs.status = customresource.NewStatusStrategy(st)
	}
	cs.selectable = sets.New("metadata.name")
	if namespaced {
		cs.selectable.Insert("metadata.namespace")
	}
	for _, f := range v.SelectableFields {
		cs.selectable.Insert(f.JSONPath[1:])
	}
	cs.webhook = crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy == apiextensionsv1.WebhookConverter
	verbs := verbsAll
	r := &Resource{
		Group: crd.Spec.Group, Version: v.Name, Kind: names.Kind, ListKind: names.ListKind,
		Plural: names.Plural, Singular: names.Singular, ShortNames: names.ShortNames, Categories: names.Categories,
		Namespaced: namespaced, Subresources: subs, Verbs: verbs,
		New: func() runtime.Object {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(gvk)
			return u
		},
		NewList: func() runtime.Object {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(listGVK)
			return l
		},
		Strategy: cs,
		CRD: &CustomResourceInfo{
			UID: string(crd.UID), Name: crd.Name, Generation: crd.Generation, Scale: scaleOf(subresources), Coerce: cs.coerce, Read: cs.read,
			MultiVersion: len(crd.Spec.Versions) > 1 || len(crd.Status.StoredVersions) > 1,
			OpenAPI: sync.OnceValues(func() ([]byte, error) {
				doc, err := builder.BuildOpenAPIV3(crd, v.Name, builder.Options{})
				if err != nil {
					return nil, err
				}
				return json.Marshal(doc)
			}),
			OpenAPIV2: sync.OnceValues(func() (*spec.Swagger, error) {
				return builder.BuildOpenAPIV2(crd, v.Name, builder.Options{V2: true})
			}),
		},
	}
	cs.info = r.CRD
	return r, nil
}

// CustomResourceInfo is what a custom resource's entry keeps of its
// definition.
type CustomResourceInfo struct {
	UID, Name  string
	Generation int64
	// Scale is the scale subresource's paths, nil without one.
	Scale *apiextensionsv1.CustomResourceSubresourceScale
	// Coerce prunes what the schema does not know and normalizes
	// metadata of a decoded object, as kube-apiserver's decoder does; it
	// returns the pruned paths ("spec.foo"), which are unknown fields for
	// fieldValidation.
	Coerce func(obj runtime.Object) ([]string, error)
	// Read finishes an object of this version decoded from storage, as
	// kube-apiserver's storage codec does on every read: pruned and
	// normalized, then defaulted, by the version's current schema.
	Read func(u *unstructured.Unstructured) error
	// Terminating: the definition is being deleted; new objects are
	// refused.
	Terminating bool
	// OpenAPI is the version's OpenAPI v3 document as kube-apiserver
	// builds it (paths, the schema, ObjectMeta and the rest it refers
	// to), made on first use.
	OpenAPI func() ([]byte, error)
	// OpenAPIV2 is the same as a swagger 2.0 document, for /openapi/v2.
	OpenAPIV2 func() (*spec.Swagger, error)
	// TypeConverter is the definition's schemas, every version's, as
	// server-side apply's field manager knows types: list and map types
	// (x-kubernetes-list-type, -map-keys) and ObjectMeta's, made on first
	// use as kube-apiserver's crdHandler makes it.
	TypeConverter func() (managedfields.TypeConverter, error)
	// MultiVersion: the definition has or had more than one version, so
	// a stored object may be of another version than the one asked for
	// and every object read is converted.
	MultiVersion bool
	// Converter converts between the definition's versions as its
	// spec.conversion says (apiextensions-apiserver's converter: the
	// None strategy sets apiVersion, Webhook calls the webhook); nil is
	// the None strategy. The server sets it, as it holds what reaches a
	// webhook.
	Converter runtime.ObjectConvertor
}

// unstructuredTyper gives an unstructured object's own kind, as
// apiextensions-apiserver's unstructuredObjectTyper does.
type unstructuredTyper struct{}

func (unstructuredTyper) ObjectKinds(obj runtime.Object) ([]schema.GroupVersionKind, bool, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" {
		return nil, false, fmt.Errorf("object has no kind")
	}
	return []schema.GroupVersionKind{gvk}, false, nil
}

func (unstructuredTyper) Recognizes(schema.GroupVersionKind) bool { return false }

// crStrategy adapts apiextensions-apiserver's custom resource strategy
// to ours.
type crStrategy struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	preserve   bool
	main       upstreamStrategy
	status     rest.RESTUpdateStrategy
	table      rest.TableConvertor
	selectable sets.Set[string]
	// webhook: the definition converts through a webhook; info holds
	// its converter, which the server sets after the entries are made.
	webhook bool
	info    *CustomResourceInfo
}

var _ Strategy = (*crStrategy)(nil)

// coerce does what kube-apiserver's unstructuredSchemaCoercer does to a
// decoded request: metadata read as ObjectMeta (unknown metadata fields
// dropped), unknown fields pruned, nulls without defaults removed,
// embedded ObjectMeta normalized.
func (s *crStrategy) coerce(obj runtime.Object) ([]string, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, nil
	}
	return s.coerceWith(u, false)
}

// read is what kube-apiserver's custom resource storage codec does to
// each object it decodes from etcd, in the version the object is stored
// in: the coercion above, dropping malformed metadata rather than
// failing and repairing a missing generation, then the schema's
// defaults. It runs on every read with the definition's current schema,
// so a default added to the schema shows on objects stored before it.
func (s *crStrategy) read(u *unstructured.Unstructured) error {
	if _, err := s.coerceWith(u, true); err != nil {
		return err
	}
	s.Default(u)
	return nil
}

// coerceWith is upstream's unstructuredSchemaCoercer.apply; fromStorage
// sets its dropInvalidMetadata and repairGeneration.
func (s *crStrategy) coerceWith(u *unstructured.Unstructured, fromStorage bool) ([]string, error) {
	kind, apiVersion := u.GetKind(), u.GetAPIVersion()
	om, found, unknown, err := schemaobjectmeta.GetObjectMetaWithOptions(u.Object, schemaobjectmeta.ObjectMetaOptions{
		DropMalformedFields: fromStorage, ReturnUnknownFieldPaths: !fromStorage,
	})
	if err != nil {
		return nil, err
	}
	if !s.preserve {
		unknown = append(unknown, structuralpruning.PruneWithOptions(u.Object, s.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: !fromStorage})...)
		structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, s.structural)
	}
	if s.structural != nil {
		ferr, paths := schemaobjectmeta.CoerceWithOptions(nil, u.Object, s.structural, false, schemaobjectmeta.CoerceOptions{
			DropInvalidFields: fromStorage, ReturnUnknownFieldPaths: !fromStorage,
		})
		if ferr != nil {
			return nil, ferr
		}
		unknown = append(unknown, paths...)
	}
	if fromStorage && found && om.Generation == 0 {
		// Objects written before generation was kept.
		om.Generation = 1
	}
	u.SetKind(kind)
	u.SetAPIVersion(apiVersion)
	if found {
		if err := schemaobjectmeta.SetObjectMeta(u.Object, om); err != nil {
			return nil, err
		}
	}
	return unknown, nil
}

// served runs f with objs in s's version: an entry of a non-storage
// version gets objects of the storage version (the server converts
// first), and the None conversion between them is the apiVersion.
func (s *crStrategy) served(f func(), objs ...runtime.Object) {
	want := s.gvk.GroupVersion().String()
	var restore []func()
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok && u.GetAPIVersion() != want {
			was := u.GetAPIVersion()
			u.SetAPIVersion(want)
			restore = append(restore, func() { u.SetAPIVersion(was) })
		}
	}
	defer func() {
		for _, r := range restore {
			r()
		}
	}()
	f()
}

func (s *crStrategy) Default(obj runtime.Object) {
	if u, ok := obj.(*unstructured.Unstructured); ok && s.structural != nil {
		structuraldefaulting.Default(u.Object, s.structural)
	}
}

func (s *crStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s.served(func() {
		s.main.PrepareForCreate(ctx, obj)
		s.main.Canonicalize(obj)
	}, obj)
}

func (s *crStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	m, oldm, old, ok := beginUpdate(obj, old)
	if !ok {
		return
	}
	m.SetGeneration(oldm.GetGeneration())
	s.served(func() {
		s.main.PrepareForUpdate(ctx, obj, old)
		s.main.Canonicalize(obj)
	}, obj, old)
}

func (s *crStrategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	m, oldm, old, ok := beginUpdate(obj, old)
	if !ok {
		return
	}
	m.SetGeneration(oldm.GetGeneration())
	if s.status != nil {
		s.served(func() { s.status.PrepareForUpdate(ctx, obj, old) }, obj, old)
	}
}

func (s *crStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return s.validateServed(func(o []runtime.Object) field.ErrorList {
		errs := rest.ValidateCreate(ctx, o[0], s.main)
		if len(errs) == 0 {
			for _, w := range s.main.WarningsOnCreate(ctx, o[0]) {
				warning.AddWarning(ctx, "", w)
			}
		}
		return errs
	}, obj)
}

func (s *crStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.validateServed(func(o []runtime.Object) field.ErrorList {
		errs := rest.ValidateUpdate(ctx, o[0], o[1], s.main)
		if len(errs) == 0 {
			for _, w := range s.main.WarningsOnUpdate(ctx, o[0], o[1]) {
				warning.AddWarning(ctx, "", w)
			}
		}
		return errs
	}, obj, old)
}

func (s *crStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.status == nil {
		return nil
	}
	return s.validateServed(func(o []runtime.Object) field.ErrorList {
		return rest.ValidateUpdate(ctx, o[0], o[1], s.status)
	}, obj, old)
}

// validateServed validates objs (of the storage version) in s's version.
// A definition converted by a webhook may shape each version
// differently: f gets copies the webhook converted, validated against
// s's schema as kube-apiserver validates the request's version. With
// the None conversion the objects are only relabelled (served).
func (s *crStrategy) validateServed(f func([]runtime.Object) field.ErrorList, objs ...runtime.Object) (errs field.ErrorList) {
	if s.webhook && s.info != nil && s.info.Converter != nil {
		gv := s.gvk.GroupVersion()
		in := make([]runtime.Object, len(objs))
		for i, o := range objs {
			in[i] = o
			if u, ok := o.(*unstructured.Unstructured); ok && u.GetAPIVersion() != gv.String() {
				c, err := s.info.Converter.ConvertToVersion(u, gv)
				if err != nil {
					return field.ErrorList{field.InternalError(field.NewPath("apiVersion"), err)}
				}
				in[i] = c
			}
		}
		return f(in)
	}
	s.served(func() { errs = f(objs) }, objs...)
	return errs
}

func (s *crStrategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	return s.main.(interface {
		GetAttrs(runtime.Object) (labels.Set, fields.Set, error)
	}).GetAttrs(obj)
}

func (s *crStrategy) FieldLabelSupported(label string) bool { return s.selectable.Has(label) }

func (s *crStrategy) BeforeDelete(runtime.Object, *metav1.DeleteOptions, metav1.Time) (mark, done bool) {
	return false, false
}

func (s *crStrategy) Finalizing(runtime.Object) bool { return false }

func (s *crStrategy) Table(objs []runtime.Object, opts TableOptions) (*metav1.Table, error) {
	list := &unstructured.UnstructuredList{}
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("custom resource table: got %T", o)
		}
		list.Items = append(list.Items, *u)
	}
	return s.table.ConvertToTable(context.Background(), list, &metav1.TableOptions{NoHeaders: opts.NoHeaders})
}

// ConvertCustom converts a custom resource, of any version of its kind,
// to the version of to, with the definition's converter (the None
// conversion, which sets apiVersion only, without one), then prunes
// and normalizes it by to's schema as kube-apiserver's
// schemaCoercingConverter does. The result is a new object.
func ConvertCustom(obj runtime.Object, to *Resource) (runtime.Object, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("converting a custom resource: got %T", obj)
	}
	gv := to.GroupVersion()
	if u.GetAPIVersion() == gv.String() {
		return u.DeepCopy(), nil
	}
	var out runtime.Object
	if to.CRD == nil || to.CRD.Converter == nil {
		c := u.DeepCopy()
		c.SetAPIVersion(gv.String())
		out = c
	} else {
		var err error
		if out, err = to.CRD.Converter.ConvertToVersion(u, gv); err != nil {
			return nil, err
		}
	}
	if err := coerceConverted(out, to); err != nil {
		return nil, err
	}
	return out, nil
}

// coerceConverted is the schemaCoercingConverter's step after a
// conversion to to's version: what that version's schema does not know
// is pruned (the None conversion keeps every field, a webhook may send
// anything back).
func coerceConverted(obj runtime.Object, to *Resource) error {
	if to.CRD == nil || to.CRD.Coerce == nil {
		return nil
	}
	_, err := to.CRD.Coerce(obj)
	return err
}

// ConvertCustomList converts custom resources to the version of to as
// one conversion (one ConversionReview for a webhook, as kube-apiserver
// sends a list's items together); the items already in that version are
// not sent. The results are new objects, pruned by to's schema as
// ConvertCustom's.
func ConvertCustomList(objs []runtime.Object, to *Resource) ([]runtime.Object, error) {
	gv := to.GroupVersion()
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gv.WithKind(to.ListKind))
	need := false
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("converting a custom resource: got %T", o)
		}
		need = need || u.GetAPIVersion() != gv.String()
		list.Items = append(list.Items, *u)
	}
	if !need || to.CRD == nil || to.CRD.Converter == nil {
		out := make([]runtime.Object, len(objs))
		for i, o := range objs {
			u := o.(*unstructured.Unstructured)
			c := u.DeepCopy()
			if u.GetAPIVersion() != gv.String() {
				c.SetAPIVersion(gv.String())
				if err := coerceConverted(c, to); err != nil {
					return nil, err
				}
			}
			out[i] = c
		}
		return out, nil
	}
	converted, err := to.CRD.Converter.ConvertToVersion(list, gv)
	if err != nil {
		return nil, err
	}
	cl, ok := converted.(*unstructured.UnstructuredList)
	if !ok || len(cl.Items) != len(objs) {
		return nil, fmt.Errorf("converting %d custom resources to %s: got %T", len(objs), gv, converted)
	}
	out := make([]runtime.Object, len(cl.Items))
	for i := range cl.Items {
		if objs[i].(*unstructured.Unstructured).GetAPIVersion() != gv.String() {
			if err := coerceConverted(&cl.Items[i], to); err != nil {
				return nil, err
			}
		}
		out[i] = &cl.Items[i]
	}
	return out, nil
}

// customTypeConverter is apiextensions-apiserver's
// buildOpenAPIModelsForApply and NewTypeConverter: the OpenAPI v3 schemas
// of every version of crd merged (they carry ObjectMeta and the other
// meta/v1 definitions they refer to).
func customTypeConverter(crd *apiextensionsv1.CustomResourceDefinition) (managedfields.TypeConverter, error) {
	var specs []*spec3.OpenAPI
	for _, v := range crd.Spec.Versions {
		s, err := builder.BuildOpenAPIV3(crd, v.Name, builder.Options{})
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	merged, err := builder.MergeSpecsV3(specs...)
	if err != nil {
		return nil, err
	}
	return managedfields.NewTypeConverter(merged.Components.Schemas, crd.Spec.PreserveUnknownFields)
}

// versionCompare orders Kubernetes API versions as discovery does (GA >
// beta > alpha, higher numbers first): >0 when a has the higher priority.
func versionCompare(a, b string) int { return version.CompareKubeAwareVersionStrings(a, b) }

func scaleOf(s *apiextensionsv1.CustomResourceSubresources) *apiextensionsv1.CustomResourceSubresourceScale {
	if s == nil {
		return nil
	}
	return s.Scale
}

func jsonPath(p string) []string { return strings.Split(strings.TrimPrefix(p, "."), ".") }

// customScaleOf is apiextensions-apiserver's scaleFromCustomResource:
// the replicas at the definition's paths (0 when absent) and the label
// selector string at labelSelectorPath.
func customScaleOf(sc *apiextensionsv1.CustomResourceSubresourceScale, u *unstructured.Unstructured) (*autoscalingv1.Scale, error) {
	spec, _, err := unstructured.NestedInt64(u.Object, jsonPath(sc.SpecReplicasPath)...)
	if err != nil {
		return nil, err
	}
	var status int64
	if sc.StatusReplicasPath != "" {
		if status, _, err = unstructured.NestedInt64(u.Object, jsonPath(sc.StatusReplicasPath)...); err != nil {
			return nil, err
		}
	}
	var selector string
	if sc.LabelSelectorPath != nil && *sc.LabelSelectorPath != "" {
		if selector, _, err = unstructured.NestedString(u.Object, jsonPath(*sc.LabelSelectorPath)...); err != nil {
			return nil, err
		}
	}
	return &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{
			Name: u.GetName(), Namespace: u.GetNamespace(), UID: u.GetUID(),
			ResourceVersion: u.GetResourceVersion(), CreationTimestamp: u.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: int32(spec)},
		Status: autoscalingv1.ScaleStatus{Replicas: int32(status), Selector: selector},
	}, nil
}

func customSetReplicas(sc *apiextensionsv1.CustomResourceSubresourceScale, u *unstructured.Unstructured, n int32) error {
	return unstructured.SetNestedField(u.Object, int64(n), jsonPath(sc.SpecReplicasPath)...)
}
