package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/conversion"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"
)

// crdGVR is where the server writes its definitions' status.
var crdGVR = apiextensionsv1.SchemeGroupVersion.WithResource("customresourcedefinitions")

// crds serves the custom resources of the CustomResourceDefinitions in
// etcd, doing in one loop what kube-apiserver's apiextensions controllers
// do: the naming controller (status.acceptedNames, NamesAccepted), the
// establishing controller (Established), the discovery and handler
// updates (the served table), and the finalizer that deletes every
// custom resource of a deleted definition before it goes.
type crds struct {
	s     *Server
	table atomic.Pointer[api.Table]
	dyn   dynamic.Interface
	kick  chan struct{}

	// converters makes each definition's converter
	// (apiextensions-apiserver's: None, or the webhook client of
	// spec.conversion.webhook, reaching a Service through serviceResolver).
	converters *conversion.CRConverterFactory

	mu    sync.Mutex
	built map[types.UID]builtCRD
}

// builtCRD is a definition's entries, kept while what they were made
// from stays the same.
type builtCRD struct {
	key string
	rs  []*api.Resource
}

func newCRDs(s *Server, dyn dynamic.Interface) (*crds, error) {
	converters, err := conversion.NewCRConverterFactory(serviceResolver{s}, nil)
	if err != nil {
		return nil, fmt.Errorf("custom resource converters: %w", err)
	}
	return &crds{s: s, dyn: dyn, kick: make(chan struct{}, 1), built: map[types.UID]builtCRD{}, converters: converters}, nil
}

// table is what the server serves: the built-in resources and the
// custom ones of the Established definitions.
func (s *Server) table() *api.Table { return s.crds.table.Load() }

// readCustom finishes a custom resource read from etcd as
// kube-apiserver's custom resource codec does on every decode: pruned and
// defaulted by the current schema of the version it is stored in (the
// entries are made again when a definition changes), so that a default
// added to a schema shows on the objects stored before it, in gets,
// lists and watches, and under updates. Other objects pass.
func (s *Server) readCustom(obj runtime.Object) error {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || s.crds == nil {
		return nil
	}
	r, ok := s.table().LookupCustom(u.GroupVersionKind())
	if !ok || r.CRD.Read == nil {
		return nil
	}
	return r.CRD.Read(u)
}

func (c *crds) trigger() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// run watches the definitions and syncs on every change until ctx ends.
func (c *crds) run(ctx context.Context) {
	go func() {
		for ctx.Err() == nil {
			events := c.s.store.Watch(ctx, storage.Prefix("customresourcedefinitions", ""), newCRD, storage.WatchOptions{SendInitialEvents: true})
			for range events {
				c.trigger()
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		}
		again, err := c.sync(ctx, true)
		if err != nil {
			c.s.logf("custom resource definitions: %v", err)
			again = true
		}
		if again {
			// Custom resources still being deleted, or a failure: look
			// again shortly.
			time.AfterFunc(500*time.Millisecond, c.trigger)
		}
	}
}

func newCRD() runtime.Object { return &apiextensionsv1.CustomResourceDefinition{} }

// sync brings the definitions' status and the served table up to date.
// With write false (at start, before the server serves) it only serves
// what is already established. again tells whether a definition waits on
// its custom resources being deleted.
func (c *crds) sync(ctx context.Context, write bool) (again bool, err error) {
	res, err := c.s.store.List(ctx, storage.Prefix("customresourcedefinitions", ""), newCRD, storage.ListOptions{})
	if err != nil {
		return false, err
	}
	var defs []*apiextensionsv1.CustomResourceDefinition
	for _, o := range res.Items {
		defs = append(defs, o.(*apiextensionsv1.CustomResourceDefinition))
	}
	// The oldest definition keeps a contested name, as in Kubernetes
	// where the first to be accepted holds it.
	slices.SortFunc(defs, func(a, b *apiextensionsv1.CustomResourceDefinition) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	var served []*api.Resource
	var writes []*apiextensionsv1.CustomResourceDefinition
	type finalizing struct {
		crd *apiextensionsv1.CustomResourceDefinition
		rs  []*api.Resource
	}
	var finals []finalizing
	seen := map[types.UID]bool{}
	for i, crd := range defs {
		if write {
			want := namesAndConditions(crd, defs[:i], defs[i+1:])
			if !statusEqual(&crd.Status, &want.Status) {
				writes = append(writes, want)
				crd = want
				defs[i] = want
			}
		}
		if !apihelpers.IsCRDConditionTrue(crd, apiextensionsv1.Established) {
			continue
		}
		rs, err := c.resources(crd)
		if err != nil {
			c.s.logf("custom resource definition %s: %v", crd.Name, err)
			continue
		}
		seen[crd.UID] = true
		served = append(served, rs...)
		if write && crd.DeletionTimestamp != nil && apihelpers.CRDHasFinalizer(crd, apiextensionsv1.CustomResourceCleanupFinalizer) {
			finals = append(finals, finalizing{crd, rs})
		}
	}
	c.mu.Lock()
	for uid := range c.built {
		if !seen[uid] {
			delete(c.built, uid)
		}
	}
	c.mu.Unlock()
	// Served before the status says Established, so that a client who
	// saw the condition finds the resources (kube-apiserver's handler
	// serves any established definition it reads).
	c.table.Store(api.NewTable(served))
	for _, want := range writes {
		if err := c.writeStatus(ctx, want); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return false, err
		}
	}
	for _, f := range finals {
		done, err := c.finalize(ctx, f.crd, f.rs)
		if err != nil {
			c.s.logf("deleting the custom resources of %s: %v", f.crd.Name, err)
		}
		if !done {
			again = true
		}
	}
	return again, nil
}

// resources gives crd's entries, made again only when what they depend on
// changed.
func (c *crds) resources(crd *apiextensionsv1.CustomResourceDefinition) ([]*api.Resource, error) {
	n := crd.Status.AcceptedNames
	key := fmt.Sprintf("%d/%t/%s/%s/%s/%s/%v/%v", crd.Generation, crd.DeletionTimestamp != nil, n.Plural, n.Singular, n.Kind, n.ListKind, n.ShortNames, n.Categories)
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.built[crd.UID]; ok && b.key == key {
		return b.rs, nil
	}
	rs, err := api.CustomResources(crd)
	if err != nil {
		return nil, err
	}
	conv, _, err := c.converters.NewConverter(crd)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		r.CRD.Terminating = crd.DeletionTimestamp != nil
		r.CRD.Converter = conv
	}
	c.built[crd.UID] = builtCRD{key: key, rs: rs}
	return rs, nil
}

func (c *crds) writeStatus(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		return err
	}
	_, err = c.dyn.Resource(crdGVR).UpdateStatus(ctx, &unstructured.Unstructured{Object: u}, metav1.UpdateOptions{FieldManager: "apiextensions-apiserver"})
	return err
}

// namesAndConditions is kube-apiserver's naming and establishing
// controllers for crd: the names it asks for are accepted unless another
// definition of its group holds them, and a definition is Established
// once its names were first accepted (and stays so).
func namesAndConditions(crd *apiextensionsv1.CustomResourceDefinition, older, newer []*apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	out := crd.DeepCopy()
	resourcesInUse, kindsInUse := map[string]bool{}, map[string]bool{}
	for _, others := range [][]*apiextensionsv1.CustomResourceDefinition{older, newer} {
		for _, o := range others {
			if o.Spec.Group != crd.Spec.Group || o.UID == crd.UID {
				continue
			}
			a := o.Status.AcceptedNames
			for _, r := range append([]string{a.Plural, a.Singular}, a.ShortNames...) {
				resourcesInUse[r] = true
			}
			kindsInUse[a.Kind], kindsInUse[a.ListKind] = true, true
		}
	}
	req := crd.Spec.Names
	names := crd.Status.AcceptedNames
	accepted := apiextensionsv1.CustomResourceDefinitionCondition{
		Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionTrue,
		Reason: "NoConflicts", Message: "no conflicts found",
	}
	conflict := func(reason, name string) {
		if accepted.Status == apiextensionsv1.ConditionTrue {
			accepted = apiextensionsv1.CustomResourceDefinitionCondition{
				Type: apiextensionsv1.NamesAccepted, Status: apiextensionsv1.ConditionFalse,
				Reason: reason, Message: fmt.Sprintf("%q is already in use", name),
			}
		}
	}
	if resourcesInUse[req.Plural] {
		conflict("PluralConflict", req.Plural)
	} else {
		names.Plural = req.Plural
	}
	singular := req.Singular
	if singular == "" {
		singular = strings.ToLower(req.Kind)
	}
	if resourcesInUse[singular] {
		conflict("SingularConflict", singular)
	} else {
		names.Singular = singular
	}
	shortOK := true
	for _, sn := range req.ShortNames {
		if resourcesInUse[sn] {
			conflict("ShortNamesConflict", sn)
			shortOK = false
		}
	}
	if shortOK {
		names.ShortNames = req.ShortNames
	}
	if kindsInUse[req.Kind] {
		conflict("KindConflict", req.Kind)
	} else {
		names.Kind = req.Kind
	}
	listKind := req.ListKind
	if listKind == "" {
		listKind = req.Kind + "List"
	}
	if kindsInUse[listKind] {
		conflict("ListKindConflict", listKind)
	} else {
		names.ListKind = listKind
	}
	names.Categories = req.Categories
	out.Status.AcceptedNames = names
	apihelpers.SetCRDCondition(out, accepted)
	if accepted.Status == apiextensionsv1.ConditionTrue && !apihelpers.IsCRDConditionTrue(out, apiextensionsv1.Established) && crd.DeletionTimestamp == nil {
		apihelpers.SetCRDCondition(out, apiextensionsv1.CustomResourceDefinitionCondition{
			Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue,
			Reason: "InitialNamesAccepted", Message: "the initial names have been accepted",
		})
	}
	if crd.DeletionTimestamp != nil {
		t := apihelpers.FindCRDCondition(out, apiextensionsv1.Terminating)
		if t == nil || t.Reason == "InstanceDeletionPending" {
			apihelpers.SetCRDCondition(out, apiextensionsv1.CustomResourceDefinitionCondition{
				Type: apiextensionsv1.Terminating, Status: apiextensionsv1.ConditionTrue,
				Reason: "InstanceDeletionInProgress", Message: "CustomResource deletion is in progress",
			})
		}
	}
	if out.Status.StoredVersions == nil {
		if v, err := apihelpers.GetCRDStorageVersion(out); err == nil {
			out.Status.StoredVersions = []string{v}
		}
	} else if v, err := apihelpers.GetCRDStorageVersion(out); err == nil && !slices.Contains(out.Status.StoredVersions, v) {
		out.Status.StoredVersions = append(out.Status.StoredVersions, v)
	}
	return out
}

// statusEqual compares what the sync writes, ignoring transition times.
func statusEqual(a, b *apiextensionsv1.CustomResourceDefinitionStatus) bool {
	if !equalNames(a.AcceptedNames, b.AcceptedNames) || !slices.Equal(a.StoredVersions, b.StoredVersions) || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.Conditions {
		x, y := a.Conditions[i], b.Conditions[i]
		if x.Type != y.Type || x.Status != y.Status || x.Reason != y.Reason || x.Message != y.Message {
			return false
		}
	}
	return true
}

func equalNames(a, b apiextensionsv1.CustomResourceDefinitionNames) bool {
	return a.Plural == b.Plural && a.Singular == b.Singular && a.Kind == b.Kind && a.ListKind == b.ListKind &&
		slices.Equal(a.ShortNames, b.ShortNames) && slices.Equal(a.Categories, b.Categories)
}

// finalize deletes crd's custom resources (each as a client's DELETE
// would: their finalizers are honoured) and, once none is left, removes
// the cleanup finalizer so that the definition goes. done is false while
// objects remain.
func (c *crds) finalize(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition, rs []*api.Resource) (done bool, err error) {
	if len(rs) == 0 {
		return false, fmt.Errorf("no served version to delete through")
	}
	r := rs[0]
	gvr := schema.GroupVersionResource{Group: r.Group, Version: r.Version, Resource: r.Plural}
	list, err := c.dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, err
	}
	for _, item := range list.Items {
		if item.GetDeletionTimestamp() != nil {
			continue
		}
		var ri dynamic.ResourceInterface = c.dyn.Resource(gvr)
		if r.Namespaced {
			ri = c.dyn.Resource(gvr).Namespace(item.GetNamespace())
		}
		if err := ri.Delete(ctx, item.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
	}
	if len(list.Items) > 0 {
		return false, nil
	}
	fresh := crd.DeepCopy()
	apihelpers.CRDRemoveFinalizer(fresh, apiextensionsv1.CustomResourceCleanupFinalizer)
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(fresh)
	if err != nil {
		return false, err
	}
	if _, err := c.dyn.Resource(crdGVR).Update(ctx, &unstructured.Unstructured{Object: u}, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return false, err
	}
	return true, nil
}
