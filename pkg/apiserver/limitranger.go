package apiserver

import (
	"fmt"

	"minik8s/pkg/api"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/plugin/pkg/admission/limitranger"
)

// limitRanger is Kubernetes' LimitRanger admission plugin itself: a
// namespace's LimitRanges default the requests and limits of new pods'
// containers and refuse pods and PersistentVolumeClaims outside their
// min/max (403, in upstream's words). It reads LimitRanges through an
// informer on this server's own API, as kube-apiserver's loopback client
// does, and works on the internal version of the object.
type limitRanger struct {
	plugin *limitranger.LimitRanger
}

var pvcResource = schema.GroupResource{Resource: "persistentvolumeclaims"}

func newLimitRanger(factory informers.SharedInformerFactory, client kubernetes.Interface) (*limitRanger, error) {
	plugin, err := limitranger.NewLimitRanger(&limitranger.DefaultLimitRangerActions{})
	if err != nil {
		return nil, err
	}
	plugin.SetExternalKubeInformerFactory(factory)
	plugin.SetExternalKubeClientSet(client)
	if err := plugin.ValidateInitialization(); err != nil {
		return nil, err
	}
	return &limitRanger{plugin: plugin}, nil
}

func (*limitRanger) handles(gr schema.GroupResource) bool {
	return gr == podsResource || gr == pvcResource
}

func (l *limitRanger) admitCreate(k *call, obj runtime.Object) (func(), error) {
	return nil, l.admit(k, obj, nil, admission.Create, &metav1.CreateOptions{})
}

func (l *limitRanger) admitUpdate(k *call, obj, cur runtime.Object) error {
	return l.admit(k, obj, cur, admission.Update, &metav1.UpdateOptions{})
}

// admit runs the plugin's mutation then its validation on the internal
// form of obj, and writes the result back into obj.
func (l *limitRanger) admit(k *call, obj, old runtime.Object, op admission.Operation, opts runtime.Object) error {
	in, err := api.Internal(obj)
	if err != nil {
		return err
	}
	var oldIn runtime.Object
	if old != nil {
		if oldIn, err = api.Internal(old); err != nil {
			return err
		}
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	u, _ := request.UserFrom(k.ctx())
	attrs := admission.NewAttributesRecord(in, oldIn, k.r.GroupVersionKind(), m.GetNamespace(), m.GetName(),
		k.r.GroupVersionResource(), "", op, opts, k.dryRun(), u)
	if err := l.plugin.Admit(k.ctx(), attrs, nil); err != nil {
		return err
	}
	if err := l.plugin.Validate(k.ctx(), attrs, nil); err != nil {
		return err
	}
	if err := api.External(in, obj); err != nil {
		return fmt.Errorf("limit ranges: %w", err)
	}
	return nil
}
