package apiserver

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"slices"
	"time"

	"minik8s/pkg/api"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	mutatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/mutating"
	validatingpolicy "k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	webhookinit "k8s.io/apiserver/pkg/admission/plugin/webhook/initializer"
	mutatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/mutating"
	validatingwebhook "k8s.io/apiserver/pkg/admission/plugin/webhook/validating"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/util/feature"
	"k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/restmapper"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// dynamicAdmissionPlugins are the admission plugins configured through
// the API, in kube-apiserver's order (its RecommendedPluginOrder):
// upstream's own plugins, fed by informers on this server.
var dynamicAdmissionPlugins = []string{
	mutatingpolicy.PluginName,
	mutatingwebhook.PluginName,
	validatingpolicy.PluginName,
	validatingwebhook.PluginName,
}

// dynamicAdmission runs the admission that users configure with
// MutatingAdmissionPolicies, MutatingWebhookConfigurations,
// ValidatingAdmissionPolicies (the policies with their bindings) and
// ValidatingWebhookConfigurations. It is one step of our
// chain, placed where kube-apiserver runs these plugins: its mutating
// half after our mutating plugins, its validating half after the object's
// validation, before ResourceQuota. Everything the plugins do
// (matching rules, namespace and object selectors, matchConditions,
// caBundle TLS, timeouts, failurePolicy, sideEffects on dry runs,
// reinvocation, CEL) is upstream's; this adapts a request to
// admission.Attributes and back.
type dynamicAdmission struct {
	s *Server
	// chain is upstream's chain of the plugins (reinvoking the mutating
	// ones as upstream's does).
	chain   admission.Interface
	objects admission.ObjectInterfaces
	// factory holds the plugins' informers (their configurations,
	// namespaces, and the Services and EndpointSlices webhooks are
	// reached through).
	factory informers.SharedInformerFactory
	mapper  *restmapper.DeferredDiscoveryRESTMapper
}

var (
	_ createAdmitter            = (*dynamicAdmission)(nil)
	_ createValidator           = (*dynamicAdmission)(nil)
	_ updateAdmitter            = (*dynamicAdmission)(nil)
	_ statusUpdateAdmitter      = (*dynamicAdmission)(nil)
	_ updateValidator           = (*dynamicAdmission)(nil)
	_ deleteOptionsAdmitter     = (*dynamicAdmission)(nil)
	_ subresourceCreateAdmitter = (*dynamicAdmission)(nil)
	_ connectAdmitter           = (*dynamicAdmission)(nil)
)

// newDynamicAdmission builds the plugins with upstream's initializers, as
// kube-apiserver's AdmissionOptions.ApplyTo does; stop ends their
// informers and workers. The server's authorizer must be set (the CEL of
// policies and matchConditions may ask it). Nil when every plugin is
// turned off.
func newDynamicAdmission(s *Server, stop <-chan struct{}) (*dynamicAdmission, error) {
	var names []string
	for _, n := range dynamicAdmissionPlugins {
		if !slices.Contains(s.cfg.DisableAdmissionPlugins, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	l := s.loopback
	d := &dynamicAdmission{
		s:       s,
		factory: informers.NewSharedInformerFactory(l.clientset, 0),
		mapper:  restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(l.clientset.Discovery())),
	}
	d.objects = &admission.RuntimeObjectInterfaces{
		ObjectCreater:            objectCreater{},
		ObjectTyper:              api.Scheme,
		ObjectDefaulter:          legacyscheme.Scheme,
		ObjectConvertor:          objectConvertor{},
		EquivalentResourceMapper: equivalentResources{s},
	}
	endpoints, err := proxy.NewEndpointSliceListerGetter(d.factory.Discovery().V1().EndpointSlices().Lister())
	if err != nil {
		return nil, err
	}
	resolver := endpointResolver{services: d.factory.Core().V1().Services().Lister(), slices: endpoints}
	plugins := admission.NewPlugins()
	mutatingpolicy.Register(plugins)
	mutatingwebhook.Register(plugins)
	validatingpolicy.Register(plugins)
	validatingwebhook.Register(plugins)
	// None of these plugins reads the effective version (nil).
	inits := admission.PluginInitializers{
		initializer.New(l.clientset, l.dyn, d.factory, s.authorizer, feature.DefaultFeatureGate,
			nil, stop, d.mapper),
		webhookinit.NewPluginInitializer(nil, resolver),
	}
	if d.chain, err = plugins.NewFromPlugins(names, noPluginConfig{}, inits, nil); err != nil {
		return nil, fmt.Errorf("setting up %v: %w", names, err)
	}
	return d, nil
}

// start runs the informers (the plugins asked for theirs while being
// set up) and refreshes the discovery the policies' paramKinds are
// resolved with, every 30 s as kube-apiserver does.
func (d *dynamicAdmission) start(ctx context.Context) {
	d.factory.Start(ctx.Done())
	go wait.Until(d.mapper.Reset, 30*time.Second, ctx.Done())
}

type noPluginConfig struct{}

func (noPluginConfig) ConfigFor(string) (io.Reader, error) { return nil, nil }

func (*dynamicAdmission) handles(schema.GroupResource) bool { return true }

// attributes describe the request of k to upstream's plugins: the
// version, kind and resource the client named (objects in another
// version are converted by the plugins, through objectConvertor), the
// operation and its options, and the user. Nil for the server's own
// writes that carry no user (its bootstrap objects): no webhook may stop
// the server from starting.
func (d *dynamicAdmission) attributes(k *call, op admission.Operation, obj, old, opts runtime.Object, dryRun bool) admission.Attributes {
	u, ok := request.UserFrom(k.ctx())
	if !ok {
		return nil
	}
	wire := k.wire()
	sub := ""
	if k.info != nil {
		sub = k.info.Subresource
	}
	kind := wire.GroupVersionKind()
	if obj != nil && sub != "" && sub != "status" {
		// A subresource's own kind: Scale, Eviction, TokenRequest,
		// PodAttachOptions, …
		if kinds, _, err := api.Scheme.ObjectKinds(obj); err == nil && kinds[0].Kind != wire.Kind {
			kind = kinds[0]
		}
	}
	return admission.NewAttributesRecord(obj, old, kind, k.ns, k.name, wire.GroupVersionResource(), sub, op, opts, dryRun, u)
}

// admit runs the mutating plugins; changed tells whether a webhook
// changed the object.
func (d *dynamicAdmission) admit(k *call, a admission.Attributes) (changed bool, err error) {
	if a == nil {
		return false, nil
	}
	m, ok := d.chain.(admission.MutationInterface)
	if !ok || !d.chain.Handles(a.GetOperation()) {
		return false, nil
	}
	if err := m.Admit(k.ctx(), a, d.objects); err != nil {
		return false, err
	}
	return a.GetReinvocationContext().ShouldReinvoke(), nil
}

func (d *dynamicAdmission) validate(k *call, a admission.Attributes) error {
	if a == nil {
		return nil
	}
	v, ok := d.chain.(admission.ValidationInterface)
	if !ok || !d.chain.Handles(a.GetOperation()) {
		return nil
	}
	return v.Validate(k.ctx(), a, d.objects)
}

func createOptions(k *call) *metav1.CreateOptions {
	q := k.c.Request.URL.Query()
	o := &metav1.CreateOptions{DryRun: q["dryRun"], FieldManager: q.Get("fieldManager"), FieldValidation: q.Get("fieldValidation")}
	o.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("CreateOptions"))
	return o
}

func updateOptions(k *call) *metav1.UpdateOptions {
	q := k.c.Request.URL.Query()
	o := &metav1.UpdateOptions{DryRun: q["dryRun"], FieldManager: q.Get("fieldManager"), FieldValidation: q.Get("fieldValidation")}
	o.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("UpdateOptions"))
	return o
}

// admitCreate runs the mutating webhooks on a create; a change they make
// is defaulted again, as upstream decodes a patched object with its
// defaults (custom resources get their schema's).
func (d *dynamicAdmission) admitCreate(k *call, obj runtime.Object) (func(), error) {
	changed, err := d.admit(k, d.attributes(k, admission.Create, obj, nil, createOptions(k), k.dryRun()))
	if err == nil && changed {
		err = mutated(k, obj)
	}
	return nil, err
}

// mutated treats an object a webhook changed as upstream's decoding of
// the patched object does: a custom resource's unknown fields pruned
// (kube-apiserver's schema-coercing converter), then defaults (the
// plugin defaulted typed objects already; custom resources get their
// schema's).
func mutated(k *call, obj runtime.Object) error {
	if k.r.CRD != nil && k.r.CRD.Coerce != nil {
		if _, err := k.r.CRD.Coerce(obj); err != nil {
			return apierrors.NewBadRequest(err.Error())
		}
	}
	k.r.Strategy.Default(obj)
	return nil
}

func (d *dynamicAdmission) validateCreate(k *call, obj runtime.Object) error {
	return d.validate(k, d.attributes(k, admission.Create, obj, nil, createOptions(k), k.dryRun()))
}

func (d *dynamicAdmission) admitUpdate(k *call, obj, cur runtime.Object) error {
	if k.info != nil && k.info.Subresource == "scale" {
		return d.admitScale(k, obj, cur)
	}
	changed, err := d.admit(k, d.attributes(k, admission.Update, obj, cur, updateOptions(k), k.dryRun()))
	if err == nil && changed {
		err = mutated(k, obj)
	}
	return err
}

// admitScale shows the webhooks of deployments/scale (and the others)
// the Scale, as kube-apiserver does, and writes the replicas they set
// back into the object.
func (d *dynamicAdmission) admitScale(k *call, obj, cur runtime.Object) error {
	sc, oldSc, err := d.scales(k, obj, cur)
	if err != nil {
		return err
	}
	changed, err := d.admit(k, d.attributes(k, admission.Update, sc, oldSc, updateOptions(k), k.dryRun()))
	if err != nil || !changed {
		return err
	}
	return k.r.SetReplicas(obj, sc.Spec.Replicas)
}

func (d *dynamicAdmission) scales(k *call, obj, cur runtime.Object) (*autoscalingv1.Scale, *autoscalingv1.Scale, error) {
	sc, err := k.r.ScaleOf(obj)
	if err != nil {
		return nil, nil, err
	}
	oldSc, err := k.r.ScaleOf(cur)
	if err != nil {
		return nil, nil, err
	}
	return sc, oldSc, nil
}

func (d *dynamicAdmission) admitStatusUpdate(k *call, obj, cur runtime.Object) error {
	return d.admitUpdate(k, obj, cur)
}

func (d *dynamicAdmission) validateUpdate(k *call, obj, cur runtime.Object) error {
	if k.info != nil && k.info.Subresource == "scale" {
		sc, oldSc, err := d.scales(k, obj, cur)
		if err != nil {
			return err
		}
		obj, cur = sc, oldSc
	}
	return d.validate(k, d.attributes(k, admission.Update, obj, cur, updateOptions(k), k.dryRun()))
}

// admitDeleteWithOptions: the mutating webhooks see a DELETE with no object, the
// validating ones the object deleted (as upstream's delete handler and
// store call them).
func (d *dynamicAdmission) admitDeleteWithOptions(k *call, cur runtime.Object, opts *metav1.DeleteOptions) error {
	dry := slices.Contains(opts.DryRun, metav1.DryRunAll)
	o := opts.DeepCopy()
	o.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("DeleteOptions"))
	if _, err := d.admit(k, d.attributes(k, admission.Delete, nil, nil, o, dry)); err != nil {
		return err
	}
	return d.validate(k, d.attributes(k, admission.Delete, nil, cur, o, dry))
}

// admitSubresourceCreate: a create that stores no object of its own
// (pods/eviction, serviceaccounts/token), mutating then validating.
func (d *dynamicAdmission) admitSubresourceCreate(k *call, obj runtime.Object) error {
	a := d.attributes(k, admission.Create, obj, nil, createOptions(k), k.dryRun())
	if _, err := d.admit(k, a); err != nil {
		return err
	}
	return d.validate(k, a)
}

// admitConnect: pods/exec, attach and portforward, whose object is the
// request's options (PodExecOptions, …).
func (d *dynamicAdmission) admitConnect(k *call, opts runtime.Object) error {
	a := d.attributes(k, admission.Connect, opts, nil, nil, false)
	if _, err := d.admit(k, a); err != nil {
		return err
	}
	return d.validate(k, a)
}

// endpointResolver reaches a webhook's Service through one of its ready
// endpoints, as kube-apiserver does with --enable-aggregator-routing:
// the apiserver runs in the lab's root namespace, which routes the pod
// ranges (via their nodes) but not the Service range (ClusterIPs are
// translated inside the nodes).
type endpointResolver struct {
	services corev1listers.ServiceLister
	slices   proxy.EndpointSliceGetter
}

func (r endpointResolver) ResolveEndpoint(namespace, name string, port int32) (*url.URL, error) {
	return proxy.ResolveEndpoint(r.services, r.slices, namespace, name, port)
}

// objectCreater makes the typed objects of the scheme, and unstructured
// ones for the kinds it does not know (custom resources).
type objectCreater struct{}

func (objectCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	obj, err := api.Scheme.New(gvk)
	if err == nil || !runtime.IsNotRegisteredError(err) {
		return obj, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

// objectConvertor converts between the versions the server holds objects
// in and those webhooks ask for. Upstream's plugins convert between the
// internal version kube-apiserver keeps and a versioned one; here objects
// are already versioned, so the same type is a copy (the plugins also
// write a webhook's result back with it), and another version goes
// through the internal one. Custom resources change only their
// apiVersion (conversion strategy None).
type objectConvertor struct{}

func (objectConvertor) Convert(in, out, context any) error {
	if u, ok := in.(*unstructured.Unstructured); ok {
		o, ok := out.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("converting %T to %T: not supported", in, out)
		}
		gvk := o.GroupVersionKind()
		o.Object = runtime.DeepCopyJSON(u.Object)
		if !gvk.Empty() {
			o.SetGroupVersionKind(gvk)
		}
		return nil
	}
	if reflect.TypeOf(in) == reflect.TypeOf(out) {
		reflect.ValueOf(out).Elem().Set(reflect.ValueOf(in).Elem())
		return nil
	}
	inObj, ok := in.(runtime.Object)
	if !ok {
		return fmt.Errorf("converting %T: not an object", in)
	}
	kinds, _, err := legacyscheme.Scheme.ObjectKinds(inObj)
	if err != nil {
		return err
	}
	internal, err := legacyscheme.Scheme.New(kinds[0].GroupKind().WithVersion(runtime.APIVersionInternal))
	if err != nil {
		return err
	}
	if err := legacyscheme.Scheme.Convert(in, internal, context); err != nil {
		return err
	}
	return legacyscheme.Scheme.Convert(internal, out, context)
}

func (objectConvertor) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	return legacyscheme.Scheme.ConvertToVersion(in, gv)
}

func (objectConvertor) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return legacyscheme.Scheme.ConvertFieldLabel(gvk, label, value)
}

// equivalentResources answers matchPolicy Equivalent from the served
// table: the resources of other versions (or groups) stored as the same
// objects (apps/v1 and extensions deployments upstream; here
// autoscaling/v1 and v2 HorizontalPodAutoscalers, core and events.k8s.io
// Events, a custom resource's versions).
type equivalentResources struct{ s *Server }

func (e equivalentResources) EquivalentResourcesFor(gvr schema.GroupVersionResource, sub string) []schema.GroupVersionResource {
	t := e.s.table()
	r, ok := t.Lookup(gvr.Group, gvr.Version, gvr.Resource)
	if !ok {
		return nil
	}
	stored := storedAs(r)
	var out []schema.GroupVersionResource
	for _, o := range t.Resources() {
		if o.Virtual || storedAs(o) != stored || (sub != "" && !o.HasSubresource(sub)) {
			continue
		}
		out = append(out, o.GroupVersionResource())
	}
	return out
}

// storedAs names where r's objects are stored.
func storedAs(r *api.Resource) string {
	if r.Storage != nil {
		r = r.Storage
	}
	return r.Group + "/" + r.StorageName()
}

func (e equivalentResources) KindFor(gvr schema.GroupVersionResource, sub string) schema.GroupVersionKind {
	r, ok := e.s.table().Lookup(gvr.Group, gvr.Version, gvr.Resource)
	if !ok {
		return schema.GroupVersionKind{}
	}
	if sub == "scale" {
		return autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	}
	return r.GroupVersionKind()
}
