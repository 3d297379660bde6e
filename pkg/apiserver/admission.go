package apiserver

import (
	"context"

	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

var (
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
)

func tolerates(pod *corev1.Pod, taint *corev1.Taint) bool {
	for i := range pod.Spec.Tolerations {
		if pod.Spec.Tolerations[i].ToleratesTaint(klog.Background(), taint, false) {
			return true
		}
	}
	return false
}

// admissionPlugin is one step of the admission chain, in Kubernetes'
// order; like upstream's plugins, each says which resources it handles,
// so the generic handlers never ask what kind an object is. A plugin
// implements any of the hooks below.
type admissionPlugin interface {
	handles(gr schema.GroupResource) bool
}

// createAdmitter mutates or refuses an object before it is validated and
// stored; release undoes what it reserved when the create does not
// happen.
type createAdmitter interface {
	admitCreate(k *call, obj runtime.Object) (release func(), err error)
}

// createValidator refuses a valid object before it is stored: the
// validating admission that runs after the object's validation.
type createValidator interface {
	validateCreate(k *call, obj runtime.Object) error
}

// updateAdmitter mutates or refuses an update (cur is the stored object).
type updateAdmitter interface {
	admitUpdate(k *call, obj, cur runtime.Object) error
}

// statusUpdateAdmitter refuses a write of a status-like subresource
// (pods/status, nodes/status, …), which skips the updateAdmitters.
type statusUpdateAdmitter interface {
	admitStatusUpdate(k *call, obj, cur runtime.Object) error
}

// deleteAdmitter refuses a delete of cur before it happens.
type deleteAdmitter interface {
	admitDelete(k *call, cur runtime.Object) error
}

// deleteOptionsAdmitter is a deleteAdmitter that is shown the request's
// DeleteOptions (the webhooks are).
type deleteOptionsAdmitter interface {
	admitDeleteWithOptions(k *call, cur runtime.Object, opts *metav1.DeleteOptions) error
}

// updateValidator refuses a valid update (of the object or of a
// subresource written like it) before it is stored: the validating
// admission that runs after the update's validation.
type updateValidator interface {
	validateUpdate(k *call, obj, cur runtime.Object) error
}

// connectAdmitter refuses a connection to pods/exec, attach or
// portforward; opts is the request's PodExecOptions, ….
type connectAdmitter interface {
	admitConnect(k *call, opts runtime.Object) error
}

// subresourceCreateAdmitter refuses a create of a subresource that
// stores no object of its own (pods/eviction): obj is the request's body.
type subresourceCreateAdmitter interface {
	admitSubresourceCreate(k *call, obj runtime.Object) error
}

// writeObserver learns whether the update of the object of k was
// written (err nil) or not, and that it was deleted (gone).
type writeObserver interface {
	afterUpdate(k *call, err error)
	afterDelete(k *call, gone runtime.Object)
}

func (s *Server) plugins(k *call) []admissionPlugin {
	var out []admissionPlugin
	for _, p := range s.admission {
		if p.handles(k.gr()) {
			out = append(out, p)
		}
	}
	return out
}

// admitCreate runs the chain's create hooks; the returned func undoes
// their reservations when the create does not happen.
func (s *Server) admitCreate(k *call, obj runtime.Object) (func(), error) {
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, p := range s.plugins(k) {
		a, ok := p.(createAdmitter)
		if !ok {
			continue
		}
		r, err := a.admitCreate(k, obj)
		if r != nil {
			releases = append(releases, r)
		}
		if err != nil {
			release()
			return func() {}, err
		}
	}
	return release, nil
}

func (s *Server) validateCreate(k *call, obj runtime.Object) error {
	for _, p := range s.plugins(k) {
		if v, ok := p.(createValidator); ok {
			if err := v.validateCreate(k, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) admitUpdate(k *call, obj, cur runtime.Object) error {
	for _, p := range s.plugins(k) {
		if a, ok := p.(updateAdmitter); ok {
			if err := a.admitUpdate(k, obj, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateUpdate runs after the update's validation.
func (s *Server) validateUpdate(k *call, obj, cur runtime.Object) error {
	for _, p := range s.plugins(k) {
		if v, ok := p.(updateValidator); ok {
			if err := v.validateUpdate(k, obj, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) admitConnect(k *call, opts runtime.Object) error {
	for _, p := range s.plugins(k) {
		if a, ok := p.(connectAdmitter); ok {
			if err := a.admitConnect(k, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// connectAdmitted admits a connection whose options (opts, filled from
// the query) are its object, as kube-apiserver's connect handler does;
// a refusal is written to the client.
func (s *Server) connectAdmitted(k *call, opts runtime.Object) bool {
	if err := connectParameters.DecodeParameters(k.c.Request.URL.Query(), corev1.SchemeGroupVersion, opts); err != nil {
		writeError(k.c, apierrors.NewBadRequest(err.Error()))
		return false
	}
	if err := s.admitConnect(k, opts); err != nil {
		writeError(k.c, err)
		return false
	}
	return true
}

// connectParameters decodes the query of a connection: the conversions
// from url.Values are Kubernetes' (legacyscheme).
var connectParameters = runtime.NewParameterCodec(legacyscheme.Scheme)

func (s *Server) admitStatusUpdate(k *call, obj, cur runtime.Object) error {
	for _, p := range s.plugins(k) {
		if a, ok := p.(statusUpdateAdmitter); ok {
			if err := a.admitStatusUpdate(k, obj, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

// admitDelete runs for DELETE requests only: the delete an eviction
// makes was admitted as the eviction's create, as upstream's eviction
// REST deletes without admission.
func (s *Server) admitDelete(k *call, cur runtime.Object, opts *metav1.DeleteOptions) error {
	if k.info != nil && k.info.Subresource != "" {
		return nil
	}
	for _, p := range s.plugins(k) {
		if a, ok := p.(deleteAdmitter); ok {
			if err := a.admitDelete(k, cur); err != nil {
				return err
			}
		}
		if a, ok := p.(deleteOptionsAdmitter); ok {
			if err := a.admitDeleteWithOptions(k, cur, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) admitSubresourceCreate(k *call, obj runtime.Object) error {
	for _, p := range s.plugins(k) {
		if a, ok := p.(subresourceCreateAdmitter); ok {
			if err := a.admitSubresourceCreate(k, obj); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Server) afterUpdate(k *call, err error) {
	for _, p := range s.plugins(k) {
		if o, ok := p.(writeObserver); ok {
			o.afterUpdate(k, err)
		}
	}
}

func (s *Server) admitDeleted(k *call, gone runtime.Object) {
	for _, p := range s.plugins(k) {
		if o, ok := p.(writeObserver); ok {
			o.afterDelete(k, gone)
		}
	}
}

// defaultTolerationSeconds is Kubernetes' DefaultTolerationSeconds
// admission: pods tolerate not-ready and unreachable nodes for a while.
type defaultTolerationSeconds struct {
	notReady, unreachable int64
}

func (defaultTolerationSeconds) handles(gr schema.GroupResource) bool {
	return gr == schema.GroupResource{Resource: "pods"}
}

func (d defaultTolerationSeconds) admitCreate(_ *call, obj runtime.Object) (func(), error) {
	d.admit(obj.(*corev1.Pod))
	return nil, nil
}

// admitUpdate: upstream's plugin handles updates of pods proper too, so
// an update that replaces the tolerations keeps the defaults (else
// validation refuses it for removing them).
func (d defaultTolerationSeconds) admitUpdate(k *call, obj, _ runtime.Object) error {
	if k.info != nil && k.info.Subresource != "" {
		return nil
	}
	d.admit(obj.(*corev1.Pod))
	return nil
}

func (d defaultTolerationSeconds) admit(pod *corev1.Pod) {
	if !tolerates(pod, &notReadyTaint) {
		secs := d.notReady
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
		})
	}
	if !tolerates(pod, &unreachableTaint) {
		secs := d.unreachable
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
			Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
		})
	}
}

func (s *Server) storedService(ctx context.Context, ns, name string) *corev1.Service {
	var svc corev1.Service
	if err := s.store.Get(ctx, storage.Key("services", ns, name), &svc); err != nil {
		return nil
	}
	return &svc
}
