package apiserver

import (
	"errors"
	"fmt"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsapply "k8s.io/apiextensions-apiserver/pkg/client/applyconfiguration"
	"net/http"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/yaml"

	"minik8s/pkg/api"
)

// Server-side apply (PATCH with application/apply-patch+yaml) through
// apimachinery's FieldManager, the one kube-apiserver uses, over the
// structured-merge-diff schemas that client-go ships for every built-in
// type. managedFields are kept as Kubernetes keeps them once an object has
// been applied: every later update and patch of that object records its
// manager (the fieldManager parameter, else the User-Agent's first word),
// so a second applier conflicts on fields someone else set. Objects nobody
// applied carry no managedFields and cost nothing extra, as with upstream's
// skip of never-applied objects.

// typeConverter knows the schema of every built-in type; built once, on
// the first apply (it parses client-go's embedded schema).
var typeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return applyconfigurations.NewTypeConverter(api.Scheme)
})

// crdTypeConverter knows the CustomResourceDefinition's schema, which
// apiextensions-apiserver's client ships.
var crdTypeConverter = sync.OnceValue(func() managedfields.TypeConverter {
	return apiextensionsapply.NewTypeConverter(api.Scheme)
})

// fieldManagers holds one FieldManager per resource and subresource
// (the main resource, or status), made on first use.
type fieldManagers struct {
	mu sync.Mutex
	m  map[fieldManagerKey]*managedfields.FieldManager
}

type fieldManagerKey struct {
	r      *api.Resource
	status bool
}

// strategyDefaulter runs a resource's own defaulting on applied objects.
type strategyDefaulter struct{ r *api.Resource }

func (d strategyDefaulter) Default(obj runtime.Object) { d.r.Strategy.Default(obj) }

func (f *fieldManagers) get(r *api.Resource) (*managedfields.FieldManager, error) {
	return f.manager(r, false)
}

// status is the field manager of r's status subresource: its entries
// name the subresource, and what the status strategy resets (the spec,
// for most kinds) is neither owned nor in conflict, as kube-apiserver's
// status storage has it.
func (f *fieldManagers) status(r *api.Resource) (*managedfields.FieldManager, error) {
	return f.manager(r, true)
}

func (f *fieldManagers) manager(r *api.Resource, status bool) (*managedfields.FieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fieldManagerKey{r, status}
	if fm, ok := f.m[key]; ok {
		return fm, nil
	}
	gvk := r.GroupVersionKind()
	gv := fieldpath.APIVersion(gvk.GroupVersion().String())
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	subresource := ""
	switch {
	case status:
		subresource = "status"
		// Without the strategy's own: the spec, and for a custom
		// resource metadata too, as apiextensions-apiserver's status
		// strategy.
		kept := fieldpath.NewSet(fieldpath.MakePathOrDie("spec"))
		if r.CRD != nil {
			kept.Insert(fieldpath.MakePathOrDie("metadata"))
		}
		reset = map[fieldpath.APIVersion]fieldpath.Filter{gv: fieldpath.NewExcludeSetFilter(kept)}
		if rs, ok := r.Strategy.(api.StatusResetter); ok {
			if sets := rs.StatusResetFields(); len(sets) > 0 {
				reset = map[fieldpath.APIVersion]fieldpath.Filter{}
				for v, set := range sets {
					reset[v] = fieldpath.NewExcludeSetFilter(set)
				}
			}
		}
	case r.HasSubresource("status"):
		// The main resource does not own status: an applied status is
		// reset by the strategy, so it is not recorded as the applier's
		// either.
		reset = map[fieldpath.APIVersion]fieldpath.Filter{gv: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))}
	}
	var fm *managedfields.FieldManager
	var err error
	if r.CRD != nil {
		// Custom resources: kube-apiserver's crdHandler field manager, the
		// definition's schemas as types and its converter (None or the
		// webhook) between the versions managedFields name.
		var tc managedfields.TypeConverter = managedfields.NewDeducedTypeConverter()
		if r.CRD.TypeConverter != nil {
			if tc, err = r.CRD.TypeConverter(); err != nil {
				return nil, apierrors.NewInternalError(fmt.Errorf("the schemas of %s: %w", r.CRD.Name, err))
			}
		}
		var conv runtime.ObjectConvertor = unstructuredConvertor{}
		if r.CRD.Converter != nil {
			conv = r.CRD.Converter
		}
		fm, err = managedfields.NewDefaultCRDFieldManager(tc, conv, strategyDefaulter{r}, unstructuredCreater{}, gvk, gvk.GroupVersion(), subresource, reset)
	} else {
		tc := typeConverter()
		if r.Group == apiextensionsv1.GroupName {
			tc = crdTypeConverter()
		}
		fm, err = managedfields.NewDefaultFieldManager(tc, throughInternal{}, strategyDefaulter{r}, api.Scheme, gvk, gvk.GroupVersion(), subresource, reset)
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("field manager for %s: %w", gvk, err))
	}
	if f.m == nil {
		f.m = map[fieldManagerKey]*managedfields.FieldManager{}
	}
	f.m[key] = fm
	return fm, nil
}

// managerName is who a write is recorded for: the fieldManager
// parameter (at most 128 printable characters, else 422 as Kubernetes
// answers), else the printable start of the User-Agent's first word
// ("kubectl" of "kubectl/v1.34.0 (linux/amd64) …").
func managerName(k *call, options string) (string, error) {
	if m := k.c.Query("fieldManager"); m != "" {
		if errs := metav1validation.ValidateFieldManager(m, field.NewPath("fieldManager")); len(errs) > 0 {
			return "", apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: options}, "", errs)
		}
		return m, nil
	}
	ua, _, _ := strings.Cut(k.c.Request.UserAgent(), "/")
	var b strings.Builder
	for _, r := range ua {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > metav1validation.FieldManagerMaxLength {
			break
		}
		b.WriteRune(r)
	}
	return b.String(), nil
}

// trackUpdate records the manager's changes in obj's managedFields when
// the stored object has any (it was applied at some point, or a client
// sent them); obj is returned unchanged otherwise, and for an apply,
// whose field manager already did it.
func (s *Server) trackUpdate(k *call, obj, cur runtime.Object) (runtime.Object, error) {
	cm, err := meta.Accessor(cur)
	if err != nil || len(cm.GetManagedFields()) == 0 || k.applying {
		return obj, nil
	}
	return s.track(k, "UpdateOptions", obj, cur)
}

// trackCreate passes managedFields a client sent on create through the
// field manager, which drops what it cannot decode and records the
// creator, as Kubernetes does on every create.
func (s *Server) trackCreate(k *call, obj runtime.Object) (runtime.Object, error) {
	return s.track(k, "CreateOptions", obj, k.r.New())
}

// track records the request's manager for the change from cur to obj;
// options names the request's options kind in a bad fieldManager's 422.
func (s *Server) track(k *call, options string, obj, cur runtime.Object) (runtime.Object, error) {
	manager, err := managerName(k, options)
	if err != nil {
		return nil, err
	}
	fm, err := s.fields.get(k.r)
	if err != nil {
		return nil, err
	}
	return fm.UpdateNoErrors(cur, obj, manager), nil
}

// apply serves a server-side apply: the applied configuration merged into
// the stored object (or a new one) with the manager's ownership, 409 with
// every conflicting field unless force=true.
func (s *Server) apply(k *call, status bool) {
	if k.c.Query("fieldManager") == "" {
		writeError(k.c, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "PatchOptions"}, "", field.ErrorList{
			field.Required(field.NewPath("fieldManager"), "is required for apply requests (kubectl sends it: kubectl apply --server-side)")}))
		return
	}
	manager, err := managerName(k, "PatchOptions")
	if err != nil {
		writeError(k.c, err)
		return
	}
	k.applying = true
	// As Kubernetes decodes the parameter: anything but false or 0 forces.
	v := k.c.Query("force")
	force := v != "" && v != "false" && v != "0"
	body, err := readBody(k.c)
	if err != nil {
		writeError(k.c, err)
		return
	}
	// fieldValidation on an applied configuration: duplicate fields, as
	// kube-apiserver's applyPatcher checks them (unknown fields are not
	// checked here).
	if v := k.c.Query("fieldValidation"); v == metav1.FieldValidationStrict || v == metav1.FieldValidationWarn {
		if err := yaml.UnmarshalStrict(body, &map[string]any{}); err != nil {
			if v == metav1.FieldValidationStrict {
				writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("error strict decoding patch: %v", err)))
				return
			}
			addWarning(k.c, err.Error())
		}
	}
	// Whole numbers as int64, as Kubernetes' unstructured decoding has
	// them (a custom resource's integer fields are checked as int64).
	applied := &unstructured.Unstructured{Object: map[string]any{}}
	asJSON, err := yaml.YAMLToJSON(body)
	if err == nil {
		err = utiljson.Unmarshal(asJSON, &applied.Object)
	}
	if err != nil {
		writeError(k.c, apierrors.NewBadRequest("error decoding YAML: "+err.Error()))
		return
	}
	if applied.Object == nil {
		writeError(k.c, apierrors.NewBadRequest("the applied configuration is empty: send the object's apiVersion, kind, metadata.name and the fields you manage"))
		return
	}
	// The field manager works in the version on the wire; the object
	// is converted from and to the storage version around it, as
	// kube-apiserver's storage decodes into and encodes from the
	// request's version.
	wire := k.wire()
	if want := wire.GroupVersionKind(); applied.GroupVersionKind() != want {
		writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("the applied configuration is a %s, this path takes %s", gvkString(applied.GroupVersionKind()), want)))
		return
	}
	if err := checkNameMatches(k, applied); err != nil {
		writeError(k.c, err)
		return
	}
	if len(applied.GetManagedFields()) > 0 {
		writeError(k.c, apierrors.NewBadRequest("metadata.managedFields must be nil in an applied configuration"))
		return
	}
	fm, err := s.fields.get(wire)
	if status {
		fm, err = s.fields.status(wire)
	}
	if err != nil {
		writeError(k.c, err)
		return
	}
	// Two appliers may create the same object at once: the one whose
	// create loses applies again over the winner's.
	for attempt := 0; attempt < 3; attempt++ {
		out, err := s.guaranteedUpdate(k, func(cur runtime.Object) (runtime.Object, error) {
			shown, err := toServed(k.c, cur)
			if err != nil {
				return nil, err
			}
			obj, err := fm.Apply(shown, applied.DeepCopy(), manager, force)
			if err != nil {
				return nil, applyError(err)
			}
			if obj, err = k.toStorage(obj); err != nil {
				return nil, err
			}
			return s.prepareUpdate(k, obj, cur, status)
		})
		// The status of an object that is not there is 404, as for any
		// other status write.
		if !apierrors.IsNotFound(err) || status {
			if err != nil {
				writeError(k.c, err)
				return
			}
			writeObject(k.c, http.StatusOK, k.r, out)
			return
		}
		// Nothing there yet: the applied configuration makes it.
		if applied.GetUID() != "" {
			writeError(k.c, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("uid mismatch: the object does not exist, the applied configuration names uid %s", applied.GetUID())))
			return
		}
		empty := wire.New()
		em, _ := meta.Accessor(empty)
		em.SetName(k.name)
		em.SetNamespace(k.ns)
		obj, err := fm.Apply(empty, applied.DeepCopy(), manager, force)
		if err != nil {
			writeError(k.c, applyError(err))
			return
		}
		obj.GetObjectKind().SetGroupVersionKind(wire.GroupVersionKind())
		if obj, err = k.toStorage(obj); err != nil {
			writeError(k.c, err)
			return
		}
		out, err = s.createObject(k, obj)
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			writeError(k.c, err)
			return
		}
		writeObject(k.c, http.StatusCreated, k.r, out)
		return
	}
	writeError(k.c, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("the object was created and deleted while it was being applied; apply again")))
}

// throughInternal converts built-in objects between two versions of a
// kind through its internal version, as kube-apiserver's field managers
// do with their hub version (autoscaling/v1 and v2
// HorizontalPodAutoscalers, core/v1 and events.k8s.io/v1 Events:
// managedFields name the version each manager wrote in).
type throughInternal struct{}

func (throughInternal) Convert(in, out, context any) error {
	return legacyscheme.Scheme.Convert(in, out, context)
}

func (throughInternal) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	from := in.GetObjectKind().GroupVersionKind()
	if from.Empty() {
		kinds, _, err := api.Scheme.ObjectKinds(in)
		if err != nil || len(kinds) == 0 {
			return nil, fmt.Errorf("converting %T: no kind: %v", in, err)
		}
		from = kinds[0]
	}
	if to, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{from}); ok && to == from {
		// One version: the scheme's copy (a typed object for an
		// unstructured one).
		return api.Scheme.ConvertToVersion(in, target)
	}
	if u, isU := in.(runtime.Unstructured); isU {
		typed, err := legacyscheme.Scheme.New(from)
		if err != nil {
			return nil, err
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), typed); err != nil {
			return nil, err
		}
		in = typed
	}
	internal, err := legacyscheme.Scheme.ConvertToVersion(in, schema.GroupVersion{Group: from.Group, Version: runtime.APIVersionInternal})
	if err != nil {
		return nil, err
	}
	return legacyscheme.Scheme.ConvertToVersion(internal, target)
}

func (throughInternal) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return legacyscheme.Scheme.ConvertFieldLabel(gvk, label, value)
}

func gvkString(gvk schema.GroupVersionKind) string {
	if gvk.Empty() {
		return "(no apiVersion and kind)"
	}
	return gvk.GroupVersion().String() + ", Kind=" + gvk.Kind
}

// unstructuredConvertor converts custom resources between versions as
// the None conversion does: apiVersion only.
type unstructuredConvertor struct{}

func (unstructuredConvertor) Convert(in, out, _ any) error {
	u, ok := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok || !ok2 {
		return fmt.Errorf("converting %T to %T: only custom resources", in, out)
	}
	o.Object = runtime.DeepCopyJSON(u.Object)
	return nil
}

func (unstructuredConvertor) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("converting %T: only custom resources", in)
	}
	target, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{u.GroupVersionKind()})
	if !ok {
		return nil, fmt.Errorf("%s cannot be converted to %v", u.GroupVersionKind(), gv)
	}
	out := u.DeepCopy()
	out.SetGroupVersionKind(target)
	return out, nil
}

func (unstructuredConvertor) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// applyError is the field manager's error as the client should see it: an
// applied configuration with a field its kind's schema does not declare
// is the client's mistake, a 400 with the field manager's message
// (kube-apiserver answers 500 there, kubernetes/kubernetes#139253; the
// fix proposed upstream is this one).
func applyError(err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	if strings.HasPrefix(err.Error(), "failed to create typed patch object") {
		return apierrors.NewBadRequest(err.Error())
	}
	return err
}
