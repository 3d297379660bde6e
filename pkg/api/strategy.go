package api

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
}

var _ Strategy = (*strategy)(nil)

func (s *strategy) Default(obj runtime.Object) {
	if s.defaults != nil {
		s.defaults(obj)
	}
}

func (s *strategy) PrepareForCreate(obj runtime.Object) {
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

func (s *strategy) PrepareForUpdate(obj, old runtime.Object) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	oldm, err := meta.Accessor(old)
	if err != nil {
		return
	}
	old = old.DeepCopyObject()
	keepSystemFields(m, oldm)
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

func (s *strategy) PrepareForStatusUpdate(obj, old runtime.Object) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	oldm, err := meta.Accessor(old)
	if err != nil {
		return
	}
	old = old.DeepCopyObject()
	keepSystemFields(m, oldm)
	if spec := structField(obj, "Spec"); spec.IsValid() {
		spec.Set(structField(old, "Spec"))
	}
	// Kubernetes' rule for status writes: labels, annotations, finalizers,
	// owners, generation and deletion stay as stored; name, uid and
	// resourceVersion stay as sent so preconditions still apply.
	metav1.ResetObjectMetaForStatus(m, oldm)
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

func (s *strategy) Validate(obj runtime.Object) field.ErrorList {
	if s.validate == nil {
		return nil
	}
	return s.validate(obj)
}

func (s *strategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if s.validateUpdate == nil {
		return s.Validate(obj)
	}
	return s.validateUpdate(obj, old)
}

func (s *strategy) ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
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

var (
	namespaceStrategy = &strategy{
		clearStatusOnCreate: true,
		defaults:            func(obj runtime.Object) { defaultNamespace(obj.(*corev1.Namespace)) },
		prepareCreate: func(obj runtime.Object) {
			prepareNamespaceCreate(obj.(*corev1.Namespace))
		},
		prepareUpdate: func(obj, old runtime.Object) {
			// Finalizers move only through namespaces/{name}/finalize.
			obj.(*corev1.Namespace).Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
		},
		validate: func(obj runtime.Object) field.ErrorList { return validateNamespace(obj.(*corev1.Namespace)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateNamespaceUpdate(obj.(*corev1.Namespace), old.(*corev1.Namespace))
		},
		validateStatus: func(obj, old runtime.Object) field.ErrorList {
			return validateNamespaceStatusUpdate(obj.(*corev1.Namespace), old.(*corev1.Namespace))
		},
		fields:      namespaceFields,
		fieldLabels: []string{"status.phase"},
		table:       namespaceTable,
	}

	podStrategy = &strategy{
		specGeneration: true,
		defaults:       func(obj runtime.Object) { defaultPod(obj.(*corev1.Pod)) },
		prepareCreate: func(obj runtime.Object) {
			pod := obj.(*corev1.Pod)
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOSClass(&pod.Spec)}
		},
		validate: func(obj runtime.Object) field.ErrorList { return validatePod(obj.(*corev1.Pod)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validatePodUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
		},
		validateStatus: func(obj, old runtime.Object) field.ErrorList {
			return validatePodStatusUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
		},
		fields:      podFields,
		fieldLabels: podFieldLabels,
		table:       podTable,
	}

	serviceStrategy = &strategy{
		clearStatusOnCreate: true,
		specGeneration:      true,
		defaults:            func(obj runtime.Object) { defaultService(obj.(*corev1.Service)) },
		prepareUpdate: func(obj, old runtime.Object) {
			prepareServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		validate: func(obj runtime.Object) field.ErrorList { return validateService(obj.(*corev1.Service)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateServiceUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		validateStatus: func(obj, old runtime.Object) field.ErrorList {
			return validateServiceStatusUpdate(obj.(*corev1.Service), old.(*corev1.Service))
		},
		fields:      serviceFields,
		fieldLabels: []string{"spec.clusterIP", "spec.type"},
		table:       serviceTable,
	}

	endpointsStrategy = &strategy{
		defaults: func(obj runtime.Object) { defaultEndpoints(obj.(*corev1.Endpoints)) },
		validate: func(obj runtime.Object) field.ErrorList { return validateEndpoints(obj.(*corev1.Endpoints)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateEndpointsUpdate(obj.(*corev1.Endpoints), old.(*corev1.Endpoints))
		},
		table: endpointsTable,
	}

	nodeStrategy = &strategy{
		// Nodes keep the status they are created with: agents register so.
		specGeneration: true,
		defaults:       func(obj runtime.Object) { defaultNode(obj.(*corev1.Node)) },
		validate:       func(obj runtime.Object) field.ErrorList { return validateNode(obj.(*corev1.Node)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateNodeUpdate(obj.(*corev1.Node), old.(*corev1.Node))
		},
		validateStatus: func(obj, old runtime.Object) field.ErrorList {
			return validateNodeUpdate(obj.(*corev1.Node), old.(*corev1.Node))
		},
		fields:      nodeFields,
		fieldLabels: []string{"spec.unschedulable"},
		table:       nodeTable,
	}

	eventStrategy = &strategy{
		validate: func(obj runtime.Object) field.ErrorList { return validateEvent(obj.(*corev1.Event)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateEventUpdate(obj.(*corev1.Event), old.(*corev1.Event))
		},
		fields:      eventFields,
		fieldLabels: eventFieldLabels,
		table:       eventTable,
	}

	deploymentStrategy = &strategy{
		clearStatusOnCreate:  true,
		specGeneration:       true,
		annotationGeneration: true,
		defaults:             func(obj runtime.Object) { defaultDeployment(obj.(*appsv1.Deployment)) },
		validate:             func(obj runtime.Object) field.ErrorList { return validateDeployment(obj.(*appsv1.Deployment)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateDeploymentUpdate(obj.(*appsv1.Deployment), old.(*appsv1.Deployment))
		},
		validateStatus: func(obj, old runtime.Object) field.ErrorList {
			return validateDeploymentStatusUpdate(obj.(*appsv1.Deployment), old.(*appsv1.Deployment))
		},
		table: deploymentTable,
	}

	replicaSetStrategy = &strategy{
		clearStatusOnCreate: true,
		specGeneration:      true,
		defaults:            func(obj runtime.Object) { defaultReplicaSet(obj.(*appsv1.ReplicaSet)) },
		validate:            func(obj runtime.Object) field.ErrorList { return validateReplicaSet(obj.(*appsv1.ReplicaSet)) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateReplicaSetUpdate(obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet))
		},
		validateStatus: func(obj, old runtime.Object) field.ErrorList {
			return validateReplicaSetStatusUpdate(obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet))
		},
		fields:      replicaSetFields,
		fieldLabels: []string{"status.replicas"},
		table:       replicaSetTable,
	}

	endpointSliceStrategy = &strategy{
		defaults: func(obj runtime.Object) { defaultEndpointSlice(obj) },
		validate: func(obj runtime.Object) field.ErrorList { return validateEndpointSlice(obj) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateEndpointSliceUpdate(obj, old)
		},
		table: endpointSliceTable,
	}

	leaseStrategy = &strategy{
		validate:       func(obj runtime.Object) field.ErrorList { return validateLease(obj) },
		validateUpdate: func(obj, old runtime.Object) field.ErrorList { return validateLeaseUpdate(obj, old) },
		table:          leaseTable,
	}
)
