package api

import (
	"context"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	podregistry "k8s.io/kubernetes/pkg/registry/core/pod"
)

// strategy is the one Strategy implementation: what all kinds share lives
// in its methods, what a kind does differently sits in its hooks. Spec and
// Status are reached by reflection on the k8s.io/api struct fields of
// those names, which every kind here that has them follows.
type strategy struct {
	// clearStatusOnCreate drops the status a client sent on create.
	clearStatusOnCreate bool
	// specGeneration: generation moves by one when Spec changes on update
	// (else it is kept from the stored object).
	specGeneration bool
	// annotationGeneration: annotation changes move generation too
	// (Deployments: their annotations are copied to their ReplicaSets).
	annotationGeneration bool

	defaults      func(obj runtime.Object)
	prepareCreate func(obj runtime.Object)
	// prepareUpdate runs first in PrepareForUpdate, before status is kept
	// and generation computed.
	prepareUpdate  func(obj, old runtime.Object)
	validate       func(obj runtime.Object) field.ErrorList
	validateUpdate func(obj, old runtime.Object) field.ErrorList
	validateStatus func(obj, old runtime.Object) field.ErrorList
	// fields gives the kind's own selectable fields, beyond metadata.name
	// and metadata.namespace; fieldLabels names them.
	fields      func(obj runtime.Object) fields.Set
	fieldLabels []string
	table       func(objs []runtime.Object, opts TableOptions) (*metav1.Table, error)
	// prepareStatus runs last in PrepareForStatusUpdate, after the spec
	// is kept from old.
	prepareStatus func(obj, old runtime.Object)
	// beforeDelete and finalizing are the kind's BeforeDelete and
	// Finalizing; nil: a DELETE removes, nothing but metadata.finalizers
	// holds the object.
	beforeDelete func(obj runtime.Object, opts *metav1.DeleteOptions, now metav1.Time) (mark, done bool)
	finalizing   func(obj runtime.Object) bool
}

var _ Strategy = (*strategy)(nil)

func (s *strategy) Default(obj runtime.Object) {
	if s.defaults != nil {
		s.defaults(obj)
	}
}

func (s *strategy) PrepareForCreate(_ context.Context, obj runtime.Object) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	m.SetGeneration(1)
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	if s.clearStatusOnCreate {
		if st := structField(obj, "Status"); st.IsValid() {
			st.Set(reflect.Zero(st.Type()))
		}
	}
	if s.prepareCreate != nil {
		s.prepareCreate(obj)
	}
}

func (s *strategy) PrepareForUpdate(_ context.Context, obj, old runtime.Object) {
	m, oldm, old, ok := beginUpdate(obj, old)
	if !ok {
		return
	}
	if s.prepareUpdate != nil {
		s.prepareUpdate(obj, old)
	}
	if st := structField(obj, "Status"); st.IsValid() {
		st.Set(structField(old, "Status"))
	}
	gen := oldm.GetGeneration()
	specChanged := false
	if spec := structField(obj, "Spec"); s.specGeneration && spec.IsValid() {
		specChanged = !apiequality.Semantic.DeepEqual(spec.Interface(), structField(old, "Spec").Interface())
	}
	annotationsChanged := s.annotationGeneration && !apiequality.Semantic.DeepEqual(m.GetAnnotations(), oldm.GetAnnotations())
	if specChanged || annotationsChanged {
		gen++
	}
	m.SetGeneration(gen)
}

func (s *strategy) PrepareForStatusUpdate(_ context.Context, obj, old runtime.Object) {
	m, oldm, old, ok := beginUpdate(obj, old)
	if !ok {
		return
	}
	if spec := structField(obj, "Spec"); spec.IsValid() {
		spec.Set(structField(old, "Spec"))
	}
	// As rest.BeforeUpdate: a status write never moves generation. The
	// rest of the metadata is written as sent, as the status strategies
	// of these kinds upstream do, except what the kind's own hook keeps.
	m.SetGeneration(oldm.GetGeneration())
	if s.prepareStatus != nil {
		s.prepareStatus(obj, old)
	}
}

// beginUpdate is how every update starts: the metadata of both objects, a
// copy of old that the caller may take fields from, and the system fields
// kept from old. ok is false when either object has no metadata.
func beginUpdate(obj, old runtime.Object) (m, oldm metav1.Object, oldCopy runtime.Object, ok bool) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, nil, false
	}
	oldm, err = meta.Accessor(old)
	if err != nil {
		return nil, nil, nil, false
	}
	oldCopy = old.DeepCopyObject()
	keepSystemFields(m, oldm)
	return m, oldm, oldCopy, true
}

// keepSystemFields does for every update what Kubernetes' rest.BeforeUpdate
// does: the uid (when the request has none), creationTimestamp and the
// deletion fields stay as stored, and a request without resourceVersion
// becomes an unconditional update of the stored one. The server's own
// graceful-deletion write therefore sets deletionTimestamp after
// PrepareForUpdate (or writes without it).
func keepSystemFields(m, old metav1.Object) {
	if m.GetUID() == "" {
		m.SetUID(old.GetUID())
	}
	if m.GetResourceVersion() == "" {
		m.SetResourceVersion(old.GetResourceVersion())
	}
	m.SetCreationTimestamp(old.GetCreationTimestamp())
	m.SetDeletionTimestamp(old.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
}

func (s *strategy) Validate(_ context.Context, obj runtime.Object) field.ErrorList {
	if s.validate == nil {
		return nil
	}
	return s.validate(obj)
}

func (s *strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	if s.validateUpdate == nil {
		return s.Validate(ctx, obj)
	}
	return s.validateUpdate(obj, old)
}

func (s *strategy) ValidateStatusUpdate(_ context.Context, obj, old runtime.Object) field.ErrorList {
	if s.validateStatus == nil {
		return nil
	}
	return s.validateStatus(obj, old)
}

func (s *strategy) Attrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, nil, err
	}
	fs := fields.Set{
		"metadata.name":      m.GetName(),
		"metadata.namespace": m.GetNamespace(),
	}
	if s.fields != nil {
		for k, v := range s.fields(obj) {
			fs[k] = v
		}
	}
	return labels.Set(m.GetLabels()), fs, nil
}

func (s *strategy) FieldLabelSupported(label string) bool {
	if label == "metadata.name" || label == "metadata.namespace" {
		return true
	}
	for _, l := range s.fieldLabels {
		if l == label {
			return true
		}
	}
	return false
}

func (s *strategy) BeforeDelete(obj runtime.Object, opts *metav1.DeleteOptions, now metav1.Time) (mark, done bool) {
	if s.beforeDelete == nil {
		return false, false
	}
	return s.beforeDelete(obj, opts, now)
}

func (s *strategy) Finalizing(obj runtime.Object) bool {
	return s.finalizing != nil && s.finalizing(obj)
}

func (s *strategy) Table(objs []runtime.Object, opts TableOptions) (*metav1.Table, error) {
	if s.table == nil {
		return defaultTable(objs, opts)
	}
	return s.table(objs, opts)
}

// structField returns the addressable field name of the struct obj points
// to, or the zero Value when there is none.
func structField(obj runtime.Object, name string) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}
	}
	return v.Elem().FieldByName(name)
}

// structValue is the struct a pointer points to.
func structValue(ptr any) reflect.Value {
	return reflect.ValueOf(ptr).Elem()
}

// hook, updateHook, validator and updateValidator let a kind's hooks take
// its own type.
func hook[T runtime.Object](f func(T)) func(runtime.Object) {
	return func(obj runtime.Object) { f(obj.(T)) }
}

func updateHook[T runtime.Object](f func(obj, old T)) func(obj, old runtime.Object) {
	return func(obj, old runtime.Object) { f(obj.(T), old.(T)) }
}

func validator[T runtime.Object](f func(T) field.ErrorList) func(runtime.Object) field.ErrorList {
	return func(obj runtime.Object) field.ErrorList { return f(obj.(T)) }
}

func updateValidator[T runtime.Object](f func(obj, old T) field.ErrorList) func(obj, old runtime.Object) field.ErrorList {
	return func(obj, old runtime.Object) field.ErrorList { return f(obj.(T), old.(T)) }
}

var (
	namespaceStrategy = &strategy{
		clearStatusOnCreate: true,
		defaults:            hook(defaultNamespace),
		prepareCreate:       hook(prepareNamespaceCreate),
		prepareUpdate: func(obj, old runtime.Object) {
			// Finalizers move only through namespaces/{name}/finalize.
			obj.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
		},
		validate:       validator(validateNamespace),
		validateUpdate: updateValidator(validateNamespaceUpdate),
		validateStatus: updateValidator(validateNamespaceStatusUpdate),
		fields:         namespaceFields,
		fieldLabels:    []string{"status.phase"},
		table:          namespaceTable,
		beforeDelete:   beforeNamespaceDelete,
		finalizing: func(obj runtime.Object) bool {
			return len(obj.(*corev1.Namespace).Spec.Finalizers) > 0
		},
	}

	podStrategy = &strategy{
		specGeneration: true,
		defaults:       hook(defaultPod),
		prepareCreate: func(obj runtime.Object) {
			pod := obj.(*corev1.Pod)
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOSClass(&pod.Spec)}
		},
		validate:       validator(validatePod),
		validateUpdate: updateValidator(validatePodUpdate),
		validateStatus: updateValidator(validatePodStatusUpdate),
		fields:         podFields,
		fieldLabels:    podFieldLabels,
		table:          podTable,
		beforeDelete:   beforePodDelete,
		// As upstream's pod status strategy: owners stay (old kubelets
		// corrupted them), a QOS class the writer dropped is kept.
		prepareStatus: func(obj, old runtime.Object) {
			pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
			pod.OwnerReferences = oldPod.OwnerReferences
			if pod.Status.QOSClass == "" {
				pod.Status.QOSClass = oldPod.Status.QOSClass
			}
			keepObservedGeneration(pod, oldPod)
		},
	}

	serviceStrategy = &strategy{
		clearStatusOnCreate: true,
		specGeneration:      true,
		defaults:            hook(defaultService),
		prepareUpdate:       updateHook(prepareServiceUpdate),
		validate:            validator(validateService),
		validateUpdate:      updateValidator(validateServiceUpdate),
		validateStatus:      updateValidator(validateServiceStatusUpdate),
		fields:              serviceFields,
		fieldLabels:         []string{"spec.clusterIP", "spec.type"},
		table:               serviceTable,
	}

	endpointsStrategy = &strategy{
		defaults:       hook(defaultEndpoints),
		validate:       validator(validateEndpoints),
		validateUpdate: updateValidator(validateEndpointsUpdate),
		table:          endpointsTable,
	}

	nodeStrategy = &strategy{
		// Nodes keep the status they are created with: agents register so.
		specGeneration: true,
		defaults:       hook(defaultNode),
		validate:       validator(validateNode),
		validateUpdate: updateValidator(validateNodeUpdate),
		validateStatus: updateValidator(validateNodeUpdate),
		fields:         nodeFields,
		fieldLabels:    []string{"spec.unschedulable"},
		table:          nodeTable,
	}

	eventStrategy = &strategy{
		validate:       validator(validateEvent),
		validateUpdate: updateValidator(validateEventUpdate),
		fields:         eventFields,
		fieldLabels:    eventFieldLabels,
		table:          eventTable,
	}

	deploymentStrategy = &strategy{
		clearStatusOnCreate:  true,
		specGeneration:       true,
		annotationGeneration: true,
		defaults:             hook(defaultDeployment),
		validate:             validator(validateDeployment),
		validateUpdate:       updateValidator(validateDeploymentUpdate),
		validateStatus:       updateValidator(validateDeploymentStatusUpdate),
		table:                deploymentTable,
		// Labels stay; annotations are written (the deployment controller
		// records deployment.kubernetes.io/revision through UpdateStatus).
		prepareStatus: func(obj, old runtime.Object) {
			obj.(*appsv1.Deployment).Labels = old.(*appsv1.Deployment).Labels
		},
	}

	replicaSetStrategy = &strategy{
		clearStatusOnCreate: true,
		specGeneration:      true,
		defaults:            hook(defaultReplicaSet),
		validate:            validator(validateReplicaSet),
		validateUpdate:      updateValidator(validateReplicaSetUpdate),
		validateStatus:      updateValidator(validateReplicaSetStatusUpdate),
		fields:              replicaSetFields,
		fieldLabels:         []string{"status.replicas"},
		table:               replicaSetTable,
	}

	endpointSliceStrategy = &strategy{
		defaults:       defaultEndpointSlice,
		validate:       validateEndpointSlice,
		validateUpdate: validateEndpointSliceUpdate,
		table:          endpointSliceTable,
	}

	leaseStrategy = &strategy{
		validate:       validateLease,
		validateUpdate: validateLeaseUpdate,
		table:          leaseTable,
	}
)

// beforeNamespaceDelete: the first DELETE marks the namespace Terminating
// (the namespace controller then empties it); later ones wait while its
// finalizers remain.
func beforeNamespaceDelete(obj runtime.Object, _ *metav1.DeleteOptions, now metav1.Time) (mark, done bool) {
	ns := obj.(*corev1.Namespace)
	if ns.DeletionTimestamp == nil {
		zero := int64(0)
		ns.DeletionTimestamp = &now
		ns.DeletionGracePeriodSeconds = &zero
		ns.Status.Phase = corev1.NamespaceTerminating
		return true, false
	}
	return false, len(ns.Spec.Finalizers) > 0 || len(ns.Finalizers) > 0
}

// beforePodDelete is graceful deletion (rest.CheckGracefulDelete of the
// pod strategy): a pod bound to a node and not finished gets a
// deletionTimestamp grace seconds ahead for its agent to stop it; a
// second DELETE may only shorten the grace.
func beforePodDelete(obj runtime.Object, opts *metav1.DeleteOptions, now metav1.Time) (mark, done bool) {
	pod := obj.(*corev1.Pod)
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		grace = 0
	}
	if grace <= 0 {
		return false, false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds <= grace {
		return false, true
	}
	// As rest.BeforeDelete: the first graceful deletion moves generation
	// (controllers of an object being deleted change their behaviour).
	if pod.DeletionTimestamp == nil && pod.Generation > 0 {
		pod.Generation++
	}
	t := metav1.NewTime(now.Add(time.Duration(grace) * time.Second))
	pod.DeletionTimestamp = &t
	pod.DeletionGracePeriodSeconds = &grace
	return true, false
}

// keepObservedGeneration is upstream's preserveOldObservedGeneration: a
// status write that leaves observedGeneration unset, in the status or in
// a condition, keeps the stored one (a writer that does not know the field
// must not clear what the kubelet observed). Conditions are matched by
// type, in order, since validation lets a type repeat.
func keepObservedGeneration(pod, old *corev1.Pod) {
	if pod.Status.ObservedGeneration == 0 {
		pod.Status.ObservedGeneration = old.Status.ObservedGeneration
	}
	oldGens := map[corev1.PodConditionType][]int64{}
	for _, c := range old.Status.Conditions {
		oldGens[c.Type] = append(oldGens[c.Type], c.ObservedGeneration)
	}
	for i, c := range pod.Status.Conditions {
		gen := int64(0)
		if gens := oldGens[c.Type]; len(gens) > 0 {
			gen, oldGens[c.Type] = gens[0], gens[1:]
		}
		if c.ObservedGeneration == 0 {
			pod.Status.Conditions[i].ObservedGeneration = gen
		}
	}
}

// podEphemeralContainersStrategy writes pods/ephemeralcontainers with
// Kubernetes' own strategy: only spec.ephemeralContainers changes (the rest
// of the pod is the stored one), validated by ValidatePodEphemeralContainersUpdate
// (containers may be added, never changed or removed).
var podEphemeralContainersStrategy = fromUpstream(corev1.SchemeGroupVersion.WithKind("Pod"),
	podregistry.Strategy, podregistry.EphemeralContainersStrategy, nil)
