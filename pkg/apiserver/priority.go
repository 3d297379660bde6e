package apiserver

import (
	"fmt"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/utils/ptr"
)

// priority is Kubernetes' Priority admission: a pod's priorityClassName
// (or the global default class) resolves into spec.priority and
// spec.preemptionPolicy, a class that does not exist is refused, and only
// one PriorityClass may be the global default.
type priority struct {
	s *Server
	// classes is an informer's view of the PriorityClasses (the global
	// default is looked up on every pod create); until it has synced the
	// store is read.
	classes schedulinglisters.PriorityClassLister
	synced  func() bool
}

var (
	podsResource          = schema.GroupResource{Resource: "pods"}
	priorityClassResource = schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"}
)

func newPriority(s *Server, lb *loopback) priority {
	return priority{s: s, classes: lb.priorityClassLister(), synced: lb.priorityClasses.HasSynced}
}

func (priority) handles(gr schema.GroupResource) bool {
	return gr == podsResource || gr == priorityClassResource
}

func (p priority) admitCreate(k *call, obj runtime.Object) (func(), error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return nil, p.admitPod(k, o)
	case *schedulingv1.PriorityClass:
		return nil, p.admitClass(k, o, "")
	}
	return nil, nil
}

func (p priority) admitUpdate(k *call, obj, cur runtime.Object) error {
	if pc, ok := obj.(*schedulingv1.PriorityClass); ok {
		return p.admitClass(k, pc, cur.(*schedulingv1.PriorityClass).Name)
	}
	return nil
}

func (p priority) admitPod(k *call, pod *corev1.Pod) error {
	var value int32
	preemption := corev1.PreemptLowerPriority
	if pod.Spec.PriorityClassName == "" {
		def, err := p.globalDefault(k)
		if err != nil {
			return err
		}
		if def != nil {
			pod.Spec.PriorityClassName = def.Name
			value = def.Value
			if def.PreemptionPolicy != nil {
				preemption = *def.PreemptionPolicy
			}
		}
	} else {
		pc, err := p.class(k, pod.Spec.PriorityClassName)
		if err != nil {
			if apiErr := storageError(priorityClasses(), pod.Spec.PriorityClassName, err); apierrors.IsNotFound(apiErr) {
				return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("no PriorityClass with name %v was found", pod.Spec.PriorityClassName))
			} else {
				return apiErr
			}
		}
		value = pc.Value
		if pc.PreemptionPolicy != nil {
			preemption = *pc.PreemptionPolicy
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != preemption {
		return apierrors.NewForbidden(podsResource, pod.Name, fmt.Errorf("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, preemption))
	}
	pod.Spec.PreemptionPolicy = ptr.To(preemption)
	return nil
}

// admitClass refuses a second global default (self: the class's own
// name on update, which may stay the default).
func (p priority) admitClass(k *call, pc *schedulingv1.PriorityClass, self string) error {
	if !pc.GlobalDefault {
		return nil
	}
	def, err := p.globalDefault(k)
	if err != nil {
		return err
	}
	if def != nil && def.Name != self {
		return apierrors.NewForbidden(priorityClassResource, pc.Name, fmt.Errorf("PriorityClass %v is marked as default. Only one default can exist", def.Name))
	}
	return nil
}

// class reads one PriorityClass.
func (p priority) class(k *call, name string) (*schedulingv1.PriorityClass, error) {
	if p.synced() {
		// A class created a moment ago may not have reached the informer:
		// one not found there is read from the store.
		if pc, err := p.classes.Get(name); err == nil {
			return pc, nil
		}
	}
	var pc schedulingv1.PriorityClass
	if err := p.s.store.Get(k.ctx(), storage.Key("priorityclasses", "", name), &pc); err != nil {
		return nil, err
	}
	return &pc, nil
}

// globalDefault is the PriorityClass marked globalDefault with the lowest
// value (nil when none), as upstream picks it.
func (p priority) globalDefault(k *call) (*schedulingv1.PriorityClass, error) {
	var all []*schedulingv1.PriorityClass
	if p.synced() {
		list, err := p.classes.List(labels.Everything())
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		all = list
	} else {
		list, err := p.s.store.List(k.ctx(), storage.Prefix("priorityclasses", ""), func() runtime.Object { return &schedulingv1.PriorityClass{} }, storage.ListOptions{})
		if err != nil {
			return nil, storageError(priorityClasses(), "", err)
		}
		for _, obj := range list.Items {
			all = append(all, obj.(*schedulingv1.PriorityClass))
		}
	}
	var def *schedulingv1.PriorityClass
	for _, pc := range all {
		if pc.GlobalDefault && (def == nil || pc.Value < def.Value) {
			def = pc
		}
	}
	return def, nil
}

func priorityClasses() *api.Resource {
	r, _ := api.Lookup("scheduling.k8s.io", "v1", "priorityclasses")
	return r
}

// systemPriorityClasses are the two classes every Kubernetes cluster has.
func systemPriorityClasses() []*schedulingv1.PriorityClass {
	return []*schedulingv1.PriorityClass{
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-node-critical"},
			Value:       2000001000,
			Description: "Used for system critical pods that must not be moved from their current node.",
		},
		{
			ObjectMeta:  metav1.ObjectMeta{Name: "system-cluster-critical"},
			Value:       2000000000,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
		},
	}
}
