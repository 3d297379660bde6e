package apiserver

import (
	"fmt"

	"minik8s/pkg/api"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/kubernetes/plugin/pkg/admission/runtimeclass"
)

// runtimeClassAdmission is Kubernetes' RuntimeClass admission plugin
// (upstream's code) on new pods: a pod naming a RuntimeClass that does not
// exist is refused (403 `pod rejected: RuntimeClass "x" not found`), the
// class's overhead becomes the pod's `spec.overhead` and its scheduling
// node selector and tolerations are merged into the pod's (a conflict is
// 403); after validation, an overhead set without a class, or unlike the
// class's, is refused. The classes are read through the loopback
// informer, then the API when the informer has not seen one yet.
type runtimeClassAdmission struct {
	plugin *runtimeclass.RuntimeClass
}

func newRuntimeClassAdmission(l *loopback) *runtimeClassAdmission {
	p := runtimeclass.NewRuntimeClass()
	p.SetExternalKubeInformerFactory(l.factory)
	p.SetExternalKubeClientSet(l.clientset)
	return &runtimeClassAdmission{plugin: p}
}

func (*runtimeClassAdmission) handles(gr schema.GroupResource) bool { return gr == podsResource }

func (r *runtimeClassAdmission) admitCreate(k *call, obj runtime.Object) (func(), error) {
	return nil, r.run(k, obj, true)
}

func (r *runtimeClassAdmission) validateCreate(k *call, obj runtime.Object) error {
	return r.run(k, obj, false)
}

// run calls the plugin's Admit (mutate) or Validate on the internal form
// of the pod, and writes a mutation back.
func (r *runtimeClassAdmission) run(k *call, obj runtime.Object, mutate bool) error {
	in, attrs, err := internalAttributes(k, obj, admission.Create, &metav1.CreateOptions{})
	if err != nil {
		return err
	}
	if !mutate {
		return r.plugin.Validate(k.ctx(), attrs, nil)
	}
	if err := r.plugin.Admit(k.ctx(), attrs, nil); err != nil {
		return err
	}
	if err := api.External(in, obj); err != nil {
		return fmt.Errorf("runtime class admission: %w", err)
	}
	return nil
}
