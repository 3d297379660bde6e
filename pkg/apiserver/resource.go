package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/endpoints/request"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// call is one resource request: the resource, the parsed path and the
// storage key of the named object (if any).
type call struct {
	c    *gin.Context
	r    *api.Resource
	info *request.RequestInfo
	ns   string
	name string
	// raw is the created object's JSON as stored, when a create made it.
	raw []byte
	// applying: a server-side apply, whose field manager already recorded
	// its manager.
	applying bool
	// served is the entry the request named when it stores through
	// another (r is then served.Stored()); nil otherwise.
	served *api.Resource
}

func (k *call) key() string    { return storage.Key(k.r.StorageName(), k.ns, k.name) }
func (k *call) prefix() string { return storage.Prefix(k.r.StorageName(), k.ns) }
func (k *call) ctx() context.Context {
	return k.c.Request.Context()
}
func (k *call) gr() schema.GroupResource {
	return schema.GroupResource{Group: k.wire().Group, Resource: k.r.Plural}
}
func (k *call) dryRun() bool {
	for _, v := range k.c.QueryArray("dryRun") {
		if v == "All" {
			return true
		}
	}
	return false
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func (s *Server) serveResource(c *gin.Context) {
	path := c.Request.URL.Path
	segs := splitPath(path)
	if c.Request.Method == http.MethodGet && (s.discovery(c, segs) || s.serveOpenAPI(c, path)) {
		return
	}
	info, err := s.infos.NewRequestInfo(c.Request)
	if err != nil || !info.IsResourceRequest {
		writeError(c, notFoundPath(path))
		return
	}
	if info.APIGroup == metricsv1beta1.GroupName {
		s.serveResourceMetrics(c, info)
		return
	}
	r, ok := s.table().Lookup(info.APIGroup, info.APIVersion, info.Resource)
	if !ok {
		writeError(c, notFoundPath(path))
		return
	}
	c.Set(ctxVerb, info.Verb)
	c.Set(ctxCustom, r.CRD != nil)
	c.Set(ctxResource, info.Resource)
	c.Set(ctxSubresource, info.Subresource)
	k := &call{c: c, r: r.Stored(), info: info, name: info.Name}
	if r.Storage != nil || (r.CRD != nil && r.CRD.MultiVersion) {
		// A custom resource of several versions may be stored in
		// another version than the storage one: its objects are
		// converted on the way out even for the storage version's path.
		k.served = r
		c.Set(ctxServed, r)
	}
	if r.Namespaced {
		k.ns = info.Namespace
		if k.ns == "" && info.Verb != "list" && info.Verb != "watch" {
			writeError(c, apierrors.NewMethodNotSupported(k.gr(), info.Verb))
			return
		}
	}
	if r.Virtual {
		s.serveVirtual(k)
		return
	}
	c.Request = c.Request.WithContext(s.strategyContext(c.Request.Context(), info, k.ns, c))
	if info.Subresource != "" {
		s.subresource(k)
		return
	}
	switch info.Verb {
	case "get":
		s.get(k)
	case "list":
		s.list(k)
	case "watch":
		s.watch(k)
	case "create":
		if k.name != "" {
			writeError(c, apierrors.NewMethodNotSupported(k.gr(), "create on a named object"))
			return
		}
		if r.CRD != nil && r.CRD.Terminating {
			// As kube-apiserver: no new objects of a definition being
			// deleted.
			err := apierrors.NewMethodNotSupported(k.gr(), "create")
			err.ErrStatus.Message = "create not allowed while custom resource definition is terminating"
			writeError(c, err)
			return
		}
		s.create(k)
	case "update":
		s.update(k, false)
	case "patch":
		s.patch(k, false)
	case "delete":
		s.delete(k)
	case "deletecollection":
		s.deleteCollection(k)
	default:
		writeError(c, apierrors.NewMethodNotSupported(k.gr(), info.Verb))
	}
}

func (s *Server) get(k *call) {
	obj := k.r.New()
	if err := s.store.Get(k.ctx(), k.key(), obj); err != nil {
		writeError(k.c, storageError(k.wire(), k.name, err))
		return
	}
	writeObject(k.c, http.StatusOK, k.r, obj)
}

// predicate builds the filter of labelSelector and fieldSelector (plus
// the name for a watch on one object); nil when nothing filters.
func (s *Server) predicate(k *call) (func(runtime.Object) bool, error) {
	ls, err := labels.Parse(k.c.Query("labelSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
	}
	fs, err := fields.ParseSelector(k.c.Query("fieldSelector"))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
	}
	if k.served != nil {
		// The served version's labels, in the storage strategy's terms.
		if fs, err = fs.Transform(k.served.ConvertFieldLabel); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	for _, req := range fs.Requirements() {
		if !k.r.Strategy.FieldLabelSupported(req.Field) {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	if k.name != "" {
		fs = fields.AndSelectors(fs, fields.OneTermEqualSelector("metadata.name", k.name))
	}
	if ls.Empty() && fs.Empty() {
		return nil, nil
	}
	attrs := k.r.Strategy.Attrs
	if k.served != nil && k.served.CRD != nil {
		// A custom resource's selectable fields are those of the version
		// asked for, read from the object in that version: each one is
		// converted first (through the definition's webhook, if it has
		// one), as kube-apiserver decodes into the requested version
		// before it filters.
		served, st := k.served, k.r.Strategy
		gv := served.GroupVersion().String()
		attrs = func(obj runtime.Object) (labels.Set, fields.Set, error) {
			if obj.GetObjectKind().GroupVersionKind().GroupVersion().String() == gv {
				return st.Attrs(obj)
			}
			shown, err := api.ConvertCustom(obj, served)
			if err != nil {
				return nil, nil, err
			}
			return st.Attrs(shown)
		}
	}
	return func(obj runtime.Object) bool {
		l, f, err := attrs(obj)
		if err != nil {
			return false
		}
		return ls.Matches(l) && fs.Matches(f)
	}, nil
}

func (s *Server) list(k *call) {
	pred, err := s.predicate(k)
	if err != nil {
		writeError(k.c, err)
		return
	}
	opts := storage.ListOptions{Continue: k.c.Query("continue"), Predicate: pred}
	if l := k.c.Query("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l)))
			return
		}
		opts.Limit = n
	}
	rvQuery, match := k.c.Query("resourceVersion"), metav1.ResourceVersionMatch(k.c.Query("resourceVersionMatch"))
	rv, err := storage.ParseResourceVersion(rvQuery)
	if err != nil {
		writeError(k.c, apierrors.NewBadRequest(err.Error()))
		return
	}
	lo := metainternalversion.ListOptions{ResourceVersion: rvQuery, ResourceVersionMatch: match, Continue: opts.Continue, Limit: opts.Limit}
	if errs := metainternalversionvalidation.ValidateListOptions(&lo, false); len(errs) > 0 {
		writeError(k.c, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs))
		return
	}
	if opts.Continue != "" && rv > 0 {
		writeError(k.c, apierrors.NewBadRequest("specifying resource version is not allowed when using continue"))
		return
	}
	if match == metav1.ResourceVersionMatchExact {
		opts.ExactRevision = rv
	}
	mode := outputOf(k.c)
	// Stored bytes go out as they are only in the version they are in,
	// and not for custom resources, which every read prunes and
	// defaults (readCustom).
	opts.Raw = mode == asObject && k.served == nil && k.r.CRD == nil
	res, err := s.store.List(k.ctx(), k.prefix(), k.r.New, opts)
	if err != nil {
		writeError(k.c, storageError(k.wire(), "", err))
		return
	}
	// Any other non-zero resourceVersion asks for a list not older than
	// it; the list read is the latest, so only one from the future fails.
	if rv > 0 && opts.Continue == "" && res.ResourceVersion < rv {
		writeError(k.c, tooLargeResourceVersion(rv, res.ResourceVersion))
		return
	}
	lm := metav1.ListMeta{ResourceVersion: strconv.FormatInt(res.ResourceVersion, 10), Continue: res.Continue, RemainingItemCount: res.RemainingItemCount}
	if res.Raw != nil || (opts.Raw && pred == nil) {
		writeRawList(k.c, k.r, res.Raw, lm)
		return
	}
	writeList(k.c, k.r, res.Items, lm)
}

// checkNamespace refuses creates in a missing or terminating namespace.
func (s *Server) checkNamespace(k *call) error {
	ns, ok := s.namespaces.get(k.ns)
	if !ok {
		ns = &corev1.Namespace{}
		if err := s.store.GetLocal(k.ctx(), storage.Key("namespaces", "", k.ns), ns); err != nil {
			if apiErr := storageError(nsResource(), k.ns, err); apierrors.IsNotFound(apiErr) {
				return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, k.ns)
			} else {
				return apiErr
			}
		}
	}
	if ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil {
		err := apierrors.NewForbidden(k.gr(), k.name, fmt.Errorf("unable to create new content in namespace %s because it is being terminated", k.ns))
		err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: corev1.NamespaceTerminatingCause, Message: fmt.Sprintf("namespace %s is being terminated", k.ns), Field: "metadata.namespace"})
		return err
	}
	return nil
}

func nsResource() *api.Resource {
	r, _ := api.Lookup("", "v1", "namespaces")
	return r
}

func invalid(r *api.Resource, name string, errs field.ErrorList) error {
	return apierrors.NewInvalid(schema.GroupKind{Group: r.Group, Kind: r.Kind}, name, errs)
}

func (s *Server) create(k *call) {
	obj, err := s.decodeBody(k)
	if err != nil {
		writeError(k.c, err)
		return
	}
	out, err := s.createObject(k, obj)
	if err != nil {
		writeError(k.c, err)
		return
	}
	if k.raw != nil && outputOf(k.c) == asObject && k.served == nil {
		auditResponse(k.c, nil, k.raw)
		k.c.Data(http.StatusCreated, "application/json", k.raw)
		return
	}
	writeObject(k.c, http.StatusCreated, k.r, out)
}

// createObject runs the create path for a decoded object of k.r.
func (s *Server) createObject(k *call, obj runtime.Object) (runtime.Object, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	if k.r.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(k.ns)
		} else if m.GetNamespace() != k.ns {
			return nil, apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	generated := false
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + rand.String(5))
		generated = true
	}
	if m.GetName() == "" {
		return nil, invalid(k.wire(), "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	k.name = m.GetName()
	if k.r.Namespaced {
		if err := s.checkNamespace(k); err != nil {
			return nil, err
		}
	}
	st := k.r.Strategy
	st.Default(obj)
	// The system fields first, as rest.FillObjectMetaSystemFields does:
	// strategies may read the uid (a Job's selector is made from it).
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.Now())
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	st.PrepareForCreate(k.ctx(), obj)
	if len(m.GetManagedFields()) > 0 && !k.applying {
		// Sent by the client: kept as the field manager reads them
		// (entries it cannot decode dropped), recorded for this manager.
		if obj, err = s.trackCreate(k, obj); err != nil {
			return nil, err
		}
		m, _ = meta.Accessor(obj)
	}
	release, err := s.admitCreate(k, obj)
	if err != nil {
		return nil, err
	}
	if errs := st.Validate(k.ctx(), obj); len(errs) > 0 {
		release()
		return nil, invalid(k.wire(), m.GetName(), errs)
	}
	if err := s.validateCreate(k, obj); err != nil {
		release()
		return nil, err
	}
	if k.dryRun() {
		release()
		return obj, nil
	}
	for attempt := 0; ; attempt++ {
		k.raw, err = s.store.CreateJSON(k.ctx(), storage.Key(k.r.StorageName(), k.ns, m.GetName()), obj)
		if err != nil && generated && attempt < 8 && apierrors.IsAlreadyExists(storageError(k.wire(), m.GetName(), err)) {
			m.SetName(m.GetGenerateName() + rand.String(5))
			continue
		}
		break
	}
	if err != nil {
		release()
		return nil, storageError(k.wire(), m.GetName(), err)
	}
	s.namespaces.observe(obj)
	return obj, nil
}

// prepareUpdate turns a client's new object into what is stored over cur:
// system fields kept, defaults, the strategy, validation, admission.
func (s *Server) prepareUpdate(k *call, obj, cur runtime.Object, status bool) (runtime.Object, error) {
	nm, err := meta.Accessor(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	cm, _ := meta.Accessor(cur)
	if nm.GetResourceVersion() == "" {
		nm.SetResourceVersion(cm.GetResourceVersion())
	} else if nm.GetResourceVersion() != cm.GetResourceVersion() {
		// Before the strategy, admission and validation, as upstream's
		// store: a stale write is a conflict whatever else is wrong in it.
		return nil, apierrors.NewConflict(k.gr(), k.name, errors.New(storage.OptimisticLockMsg))
	}
	if nm.GetUID() == "" {
		nm.SetUID(cm.GetUID())
	} else if nm.GetUID() != cm.GetUID() {
		return nil, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", nm.GetUID(), cm.GetUID()))
	}
	nm.SetCreationTimestamp(cm.GetCreationTimestamp())
	nm.SetDeletionTimestamp(cm.GetDeletionTimestamp())
	nm.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
	nm.SetGenerateName(cm.GetGenerateName())
	st := k.r.Strategy
	st.Default(obj)
	var errs field.ErrorList
	if status {
		st.PrepareForStatusUpdate(k.ctx(), obj, cur)
		if err := s.admitStatusUpdate(k, obj, cur); err != nil {
			return nil, err
		}
		// A status writer (the agent, the scheduler) sends no
		// managedFields: the stored ones stay. An apply of status has
		// its field manager's.
		if !k.applying {
			nm.SetManagedFields(cm.GetManagedFields())
		}
	} else {
		st.PrepareForUpdate(k.ctx(), obj, cur)
		if err := s.admitUpdate(k, obj, cur); err != nil {
			return nil, err
		}
		if obj, err = s.trackUpdate(k, obj, cur); err != nil {
			return nil, err
		}
		nm, _ = meta.Accessor(obj)
	}
	if status {
		errs = st.ValidateStatusUpdate(k.ctx(), obj, cur)
	} else {
		errs = st.ValidateUpdate(k.ctx(), obj, cur)
	}
	if cm.GetDeletionTimestamp() != nil {
		old := map[string]bool{}
		for _, f := range cm.GetFinalizers() {
			old[f] = true
		}
		for _, f := range nm.GetFinalizers() {
			if !old[f] {
				errs = append(errs, field.Forbidden(field.NewPath("metadata", "finalizers"), "no new finalizers can be added if the object is being deleted, found new finalizers []string{\""+f+"\"}"))
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, invalid(k.wire(), k.name, errs)
	}
	if err := s.validateUpdate(k, obj, cur); err != nil {
		return nil, err
	}
	return obj, nil
}

// checkNameMatches: the object in the body must be the one on the path.
func checkNameMatches(k *call, obj runtime.Object) error {
	m, _ := meta.Accessor(obj)
	if m.GetName() == "" {
		m.SetName(k.name)
	}
	if m.GetName() != k.name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), k.name))
	}
	if k.r.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(k.ns)
		} else if m.GetNamespace() != k.ns {
			return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
		}
	} else {
		m.SetNamespace("")
	}
	return nil
}

func (s *Server) update(k *call, status bool) {
	obj, err := s.decodeBody(k)
	if err != nil {
		writeError(k.c, err)
		return
	}
	if err := checkNameMatches(k, obj); err != nil {
		writeError(k.c, err)
		return
	}
	out, err := s.guaranteedUpdate(k, func(cur runtime.Object) (runtime.Object, error) {
		return s.prepareUpdate(k, obj.DeepCopyObject(), cur, status)
	})
	if err != nil {
		writeError(k.c, err)
		return
	}
	writeObject(k.c, http.StatusOK, k.r, out)
}

// guaranteedUpdate writes through the store (or only computes, under
// dryRun) and finishes a delete the update made possible.
func (s *Server) guaranteedUpdate(k *call, tryUpdate storage.UpdateFunc) (runtime.Object, error) {
	if k.dryRun() {
		cur := k.r.New()
		if err := s.store.Get(k.ctx(), k.key(), cur); err != nil {
			return nil, storageError(k.wire(), k.name, err)
		}
		out, err := storedVersion(k, tryUpdate)(cur.DeepCopyObject())
		s.afterUpdate(k, err)
		if err != nil {
			return nil, storageError(k.wire(), k.name, err)
		}
		m, _ := meta.Accessor(out)
		if cm, _ := meta.Accessor(cur); m.GetResourceVersion() != cm.GetResourceVersion() {
			return nil, apierrors.NewConflict(k.gr(), k.name, errors.New(storage.OptimisticLockMsg))
		}
		return out, nil
	}
	tryUpdate = storedVersion(k, tryUpdate)
	out := k.r.New()
	err := s.store.GuaranteedUpdate(k.ctx(), k.key(), out, tryUpdate)
	s.afterUpdate(k, err)
	if err != nil {
		return nil, storageError(k.wire(), k.name, err)
	}
	s.namespaces.observe(out)
	s.finishDeleteAfterUpdate(k, out)
	return out, nil
}

// finishDeleteAfterUpdate deletes an object whose deletion only waited on
// finalizers once the last one is gone (deletionGracePeriodSeconds 0, as
// Kubernetes decides it).
func (s *Server) finishDeleteAfterUpdate(k *call, obj runtime.Object) {
	m, _ := meta.Accessor(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 {
		return
	}
	if gp := m.GetDeletionGracePeriodSeconds(); gp == nil || *gp != 0 {
		return
	}
	if k.r.Strategy.Finalizing(obj) {
		return
	}
	rv := m.GetResourceVersion()
	gone := k.r.New()
	if err := s.store.Delete(k.ctx(), k.key(), gone, &storage.Preconditions{ResourceVersion: &rv}, nil); err == nil {
		s.admitDeleted(k, gone)
		s.namespaces.forget(gone)
	}
}

func (s *Server) deleteCollection(k *call) {
	pred, err := s.predicate(k)
	if err != nil {
		writeError(k.c, err)
		return
	}
	opts, err := deleteOptions(k)
	if err != nil {
		writeError(k.c, err)
		return
	}
	res, err := s.store.List(k.ctx(), k.prefix(), k.r.New, storage.ListOptions{Predicate: pred})
	if err != nil {
		writeError(k.c, storageError(k.wire(), "", err))
		return
	}
	for _, obj := range res.Items {
		m, _ := meta.Accessor(obj)
		one := *k
		one.ns, one.name = m.GetNamespace(), m.GetName()
		if _, err := s.deleteObject(&one, opts); err != nil && !apierrors.IsNotFound(err) {
			writeError(k.c, err)
			return
		}
	}
	writeJSON(k.c, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
}

func deleteOptions(k *call) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	data, err := readBody(k.c)
	if err != nil {
		return nil, err
	}
	if len(data) > 0 && len(strings.TrimSpace(string(data))) > 0 {
		if _, _, err := api.Codecs.UniversalDeserializer().Decode(data, &schema.GroupVersionKind{Group: "meta.k8s.io", Version: "v1", Kind: "DeleteOptions"}, opts); err != nil {
			return nil, apierrors.NewBadRequest("decoding DeleteOptions: " + err.Error())
		}
	}
	q := k.c.Request.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, apierrors.NewBadRequest("invalid gracePeriodSeconds")
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b
	}
	opts.DryRun = append(opts.DryRun, q["dryRun"]...)
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return nil, invalid(&api.Resource{Kind: "DeleteOptions"}, "", field.ErrorList{field.NotSupported(field.NewPath("propagationPolicy"), *opts.PropagationPolicy, []string{"Foreground", "Background", "Orphan"})})
		}
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		z := int64(0)
		opts.GracePeriodSeconds = &z
	}
	return opts, nil
}

func (s *Server) delete(k *call) {
	opts, err := deleteOptions(k)
	if err != nil {
		writeError(k.c, err)
		return
	}
	out, err := s.deleteObject(k, opts)
	if err != nil {
		writeError(k.c, err)
		return
	}
	writeObject(k.c, http.StatusOK, k.r, out)
}

func hasFinalizer(list []string, f string) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

// deleteObject is DELETE of one object: preconditions, graceful pods,
// finalizers and propagation, terminating namespaces, then the delete.
func (s *Server) deleteObject(k *call, opts *metav1.DeleteOptions) (runtime.Object, error) {
	dry := false
	for _, d := range opts.DryRun {
		if d == "All" {
			dry = true
		}
	}
	for attempt := 0; attempt < 16; attempt++ {
		cur := k.r.New()
		if err := s.store.Get(k.ctx(), k.key(), cur); err != nil {
			return nil, storageError(k.wire(), k.name, err)
		}
		cm, _ := meta.Accessor(cur)
		if err := s.admitDelete(k, cur, opts); err != nil {
			return nil, err
		}
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != cm.GetUID() {
				return nil, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, cm.GetUID()))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != cm.GetResourceVersion() {
				return nil, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, cm.GetResourceVersion()))
			}
		}
		upd := cur.DeepCopyObject()
		um, _ := meta.Accessor(upd)
		now := metav1.Now()
		zero := int64(0)
		// What the delete turns into: an update (mark) or a removal.
		mark, done := k.r.Strategy.BeforeDelete(upd, opts, now)
		if done {
			return cur, nil
		}
		if !mark {
			fins := um.GetFinalizers()
			orphan := opts.OrphanDependents != nil && *opts.OrphanDependents
			if opts.PropagationPolicy != nil {
				orphan = *opts.PropagationPolicy == metav1.DeletePropagationOrphan
				if *opts.PropagationPolicy == metav1.DeletePropagationForeground && !hasFinalizer(fins, metav1.FinalizerDeleteDependents) {
					fins = append(fins, metav1.FinalizerDeleteDependents)
				}
			}
			if orphan && !hasFinalizer(fins, metav1.FinalizerOrphanDependents) {
				fins = append(fins, metav1.FinalizerOrphanDependents)
			}
			if len(fins) > 0 {
				um.SetFinalizers(fins)
				if um.GetDeletionTimestamp() == nil {
					um.SetDeletionTimestamp(&now)
					// As the registry's markAsDeleting: being deleted
					// moves generation, once.
					if g := um.GetGeneration(); g > 0 {
						um.SetGeneration(g + 1)
					}
				}
				um.SetDeletionGracePeriodSeconds(&zero)
				mark = true
			}
		}
		if mark {
			if dry {
				return upd, nil
			}
			out := k.r.New()
			err := s.store.GuaranteedUpdate(k.ctx(), k.key(), out, func(runtime.Object) (runtime.Object, error) { return upd, nil })
			if err != nil {
				if apiErr := storageError(k.wire(), k.name, err); apierrors.IsConflict(apiErr) {
					continue
				} else {
					return nil, apiErr
				}
			}
			s.namespaces.observe(out)
			return out, nil
		}
		if dry {
			return cur, nil
		}
		rv := cm.GetResourceVersion()
		out := k.r.New()
		if err := s.store.Delete(k.ctx(), k.key(), out, &storage.Preconditions{ResourceVersion: &rv}, nil); err != nil {
			if apiErr := storageError(k.wire(), k.name, err); apierrors.IsConflict(apiErr) {
				continue
			} else {
				return nil, apiErr
			}
		}
		s.admitDeleted(k, out)
		s.namespaces.forget(out)
		return out, nil
	}
	return nil, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("the object kept changing during the delete; try again"))
}
