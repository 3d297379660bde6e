package apiserver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
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

// fieldManagers holds one FieldManager per resource, made on first use.
type fieldManagers struct {
	mu sync.Mutex
	m  map[*api.Resource]*managedfields.FieldManager
}

// strategyDefaulter runs a resource's own defaulting on applied objects.
type strategyDefaulter struct{ r *api.Resource }

func (d strategyDefaulter) Default(obj runtime.Object) { d.r.Strategy.Default(obj) }

func (f *fieldManagers) get(r *api.Resource) (*managedfields.FieldManager, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fm, ok := f.m[r]; ok {
		return fm, nil
	}
	gvk := r.GroupVersionKind()
	// The main resource does not own status: an applied status is reset
	// by the strategy, so it is not recorded as the applier's either.
	var reset map[fieldpath.APIVersion]fieldpath.Filter
	if hasSubresource(r, "status") {
		reset = map[fieldpath.APIVersion]fieldpath.Filter{
			fieldpath.APIVersion(gvk.GroupVersion().String()): fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status"))),
		}
	}
	fm, err := managedfields.NewDefaultFieldManager(typeConverter(), api.Scheme, strategyDefaulter{r}, api.Scheme, gvk, gvk.GroupVersion(), "", reset)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("field manager for %s: %w", gvk, err))
	}
	if f.m == nil {
		f.m = map[*api.Resource]*managedfields.FieldManager{}
	}
	f.m[r] = fm
	return fm, nil
}

func hasSubresource(r *api.Resource, sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// managerName is who an update is recorded for: the fieldManager
// parameter, else the first word of the User-Agent ("kubectl" of
// "kubectl/v1.34.0 (linux/amd64) …"), as Kubernetes names it.
func managerName(k *call) string {
	if m := k.c.Query("fieldManager"); m != "" {
		return m
	}
	ua := k.c.Request.UserAgent()
	if i := strings.IndexByte(ua, '/'); i >= 0 {
		ua = ua[:i]
	}
	if len(ua) > 128 {
		ua = ua[:128]
	}
	return ua
}

// trackUpdate records manager's changes in obj's managedFields when the
// stored object has any (it was applied at some point); obj is returned
// unchanged otherwise.
func (s *Server) trackUpdate(k *call, obj, cur runtime.Object) (runtime.Object, error) {
	cm, err := meta.Accessor(cur)
	if err != nil || len(cm.GetManagedFields()) == 0 {
		return obj, nil
	}
	fm, err := s.fields.get(k.r)
	if err != nil {
		return nil, err
	}
	return fm.UpdateNoErrors(cur, obj, managerName(k)), nil
}

// apply serves a server-side apply: the applied configuration merged into
// the stored object (or a new one) with the manager's ownership, 409 with
// every conflicting field unless force=true.
func (s *Server) apply(k *call, status bool) {
	if status {
		writeError(k.c, unsupportedMediaType("server-side apply of the status subresource is not supported by this server: use a merge or strategic merge patch of status"))
		return
	}
	manager := k.c.Query("fieldManager")
	if manager == "" {
		writeError(k.c, apierrors.NewBadRequest("fieldManager is required for apply requests (kubectl sends it: kubectl apply --server-side)"))
		return
	}
	force := false
	if v := k.c.Query("force"); v != "" {
		var err error
		if force, err = strconv.ParseBool(v); err != nil {
			writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("force: invalid value %q: want true or false", v)))
			return
		}
	}
	body, err := readBody(k.c)
	if err != nil {
		writeError(k.c, err)
		return
	}
	applied := &unstructured.Unstructured{Object: map[string]any{}}
	if err := yaml.Unmarshal(body, &applied.Object); err != nil {
		writeError(k.c, apierrors.NewBadRequest("error decoding YAML: "+err.Error()))
		return
	}
	if applied.Object == nil {
		writeError(k.c, apierrors.NewBadRequest("the applied configuration is empty: send the object's apiVersion, kind, metadata.name and the fields you manage"))
		return
	}
	if want := k.r.GroupVersionKind(); applied.GroupVersionKind() != want {
		writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("the applied configuration is a %s, this path takes %s", gvkString(applied.GroupVersionKind()), want)))
		return
	}
	if n := applied.GetName(); n != "" && n != k.name {
		writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", n, k.name)))
		return
	}
	if ns := applied.GetNamespace(); k.r.Namespaced && ns != "" && ns != k.ns {
		writeError(k.c, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request"))
		return
	}
	if len(applied.GetManagedFields()) > 0 {
		writeError(k.c, apierrors.NewBadRequest("metadata.managedFields must be nil in an applied configuration"))
		return
	}
	fm, err := s.fields.get(k.r)
	if err != nil {
		writeError(k.c, err)
		return
	}
	// Two appliers may create the same object at once: the one whose
	// create loses applies again over the winner's.
	for attempt := 0; attempt < 3; attempt++ {
		out, err := s.guaranteedUpdate(k, func(cur runtime.Object) (runtime.Object, error) {
			obj, err := fm.Apply(cur, applied.DeepCopy(), manager, force)
			if err != nil {
				return nil, err
			}
			return s.prepareUpdate(k, obj, cur, false)
		})
		if !apierrors.IsNotFound(err) || !isThisObject(err, k) {
			if err != nil {
				writeError(k.c, err)
				return
			}
			writeObject(k.c, http.StatusOK, k.r, out)
			return
		}
		// Nothing there yet: the applied configuration makes it.
		empty := k.r.New()
		em, _ := meta.Accessor(empty)
		em.SetName(k.name)
		em.SetNamespace(k.ns)
		obj, err := fm.Apply(empty, applied.DeepCopy(), manager, force)
		if err != nil {
			writeError(k.c, err)
			return
		}
		obj.GetObjectKind().SetGroupVersionKind(k.r.GroupVersionKind())
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

// isThisObject tells a NotFound of the applied object itself from one of
// its namespace.
func isThisObject(err error, k *call) bool {
	se, ok := err.(apierrors.APIStatus)
	if !ok || se.Status().Details == nil {
		return true
	}
	return se.Status().Details.Name == k.name && se.Status().Details.Kind == k.r.Plural
}

func gvkString(gvk schema.GroupVersionKind) string {
	if gvk.Empty() {
		return "(no apiVersion and kind)"
	}
	return gvk.GroupVersion().String() + ", Kind=" + gvk.Kind
}
