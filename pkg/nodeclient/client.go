package nodeclient

import (
	"context"
	"errors"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/flowcontrol"
)

// Scheme holds the types of the groups the client speaks; event recorders
// use it to name the kind of the objects they report on (objects from an
// informer carry no kind).
var Scheme = newScheme()

var codecs = serializer.NewCodecFactory(Scheme)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	utilruntime.Must(v1.AddToScheme(s))
	utilruntime.Must(authenticationv1.AddToScheme(s))
	utilruntime.Must(coordinationv1.AddToScheme(s))
	utilruntime.Must(discoveryv1.AddToScheme(s))
	utilruntime.Must(certificatesv1.AddToScheme(s))
	return s
}

// Client reaches the API server for one node agent.
type Client struct {
	core, coordination, discovery, certificates rest.Interface
}

// New returns a Client for cfg. Like client-go's clientset, all groups share
// one connection pool and one rate limiter (cfg.QPS, cfg.Burst).
func New(cfg *rest.Config) (*Client, error) {
	c := *cfg
	if c.RateLimiter == nil && c.QPS > 0 {
		if c.Burst <= 0 {
			return nil, errors.New("API client: burst must be positive when QPS is set")
		}
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	httpClient, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	group := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		gc := c
		gc.GroupVersion = &gv
		gc.APIPath = apiPath
		gc.NegotiatedSerializer = codecs.WithoutConversion()
		rc, err := rest.RESTClientForConfigAndClient(&gc, httpClient)
		if err != nil {
			return nil, fmt.Errorf("API client for %s: %w", gv, err)
		}
		return rc, nil
	}
	out := &Client{}
	if out.core, err = group(v1.SchemeGroupVersion, "/api"); err != nil {
		return nil, err
	}
	if out.coordination, err = group(coordinationv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	if out.discovery, err = group(discoveryv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	if out.certificates, err = group(certificatesv1.SchemeGroupVersion, "/apis"); err != nil {
		return nil, err
	}
	return out, nil
}

// Nodes are cluster-scoped.
func (c *Client) Nodes() Resource[*v1.Node] { return Resource[*v1.Node]{c.core, "nodes", ""} }

// Pods of namespace; "" lists and watches all namespaces.
func (c *Client) Pods(namespace string) Resource[*v1.Pod] {
	return Resource[*v1.Pod]{c.core, "pods", namespace}
}

// Services of namespace; "" lists and watches all namespaces.
func (c *Client) Services(namespace string) Resource[*v1.Service] {
	return Resource[*v1.Service]{c.core, "services", namespace}
}

// Events of namespace.
func (c *Client) Events(namespace string) Resource[*v1.Event] {
	return Resource[*v1.Event]{c.core, "events", namespace}
}

// Leases of namespace (node heartbeats live in kube-node-lease).
func (c *Client) Leases(namespace string) Resource[*coordinationv1.Lease] {
	return Resource[*coordinationv1.Lease]{c.coordination, "leases", namespace}
}

// EndpointSlices of namespace; "" lists and watches all namespaces.
func (c *Client) EndpointSlices(namespace string) Resource[*discoveryv1.EndpointSlice] {
	return Resource[*discoveryv1.EndpointSlice]{c.discovery, "endpointslices", namespace}
}

// ConfigMaps of namespace; the agent reads those its pods use.
func (c *Client) ConfigMaps(namespace string) Resource[*v1.ConfigMap] {
	return Resource[*v1.ConfigMap]{c.core, "configmaps", namespace}
}

// Secrets of namespace; the agent reads those its pods use.
func (c *Client) Secrets(namespace string) Resource[*v1.Secret] {
	return Resource[*v1.Secret]{c.core, "secrets", namespace}
}

// PersistentVolumeClaims of namespace.
func (c *Client) PersistentVolumeClaims(namespace string) Resource[*v1.PersistentVolumeClaim] {
	return Resource[*v1.PersistentVolumeClaim]{c.core, "persistentvolumeclaims", namespace}
}

// PersistentVolumes are cluster-scoped.
func (c *Client) PersistentVolumes() Resource[*v1.PersistentVolume] {
	return Resource[*v1.PersistentVolume]{c.core, "persistentvolumes", ""}
}

// ClusterTrustBundles are cluster-scoped; the agent reads those its
// pods' projected volumes name.
func (c *Client) ClusterTrustBundles() Resource[*certificatesv1.ClusterTrustBundle] {
	return Resource[*certificatesv1.ClusterTrustBundle]{c.certificates, "clustertrustbundles", ""}
}

// ListClusterTrustBundles lists ClusterTrustBundles with opts' label and
// field selectors (spec.signerName is one).
func (c *Client) ListClusterTrustBundles(ctx context.Context, opts metav1.ListOptions) (*certificatesv1.ClusterTrustBundleList, error) {
	obj, err := c.certificates.Get().Resource("clustertrustbundles").VersionedParams(&opts, metav1.ParameterCodec).Do(ctx).Get()
	if err != nil {
		return nil, err
	}
	l, ok := obj.(*certificatesv1.ClusterTrustBundleList)
	if !ok {
		return nil, fmt.Errorf("API answered with a %T, want a ClusterTrustBundleList", obj)
	}
	return l, nil
}

// CreateToken asks for a token of ServiceAccount namespace/name
// (serviceaccounts/NAME/token), as client-go's CreateToken.
func (c *Client) CreateToken(ctx context.Context, namespace, name string, tr *authenticationv1.TokenRequest, opts metav1.CreateOptions) (*authenticationv1.TokenRequest, error) {
	return into[*authenticationv1.TokenRequest](ctx, c.core.Post().Namespace(namespace).Resource("serviceaccounts").Name(name).SubResource("token").
		VersionedParams(&opts, metav1.ParameterCodec).Body(tr))
}

// Object is an API object with metadata, e.g. *v1.Pod.
type Object interface {
	runtime.Object
	metav1.Object
}

// Resource reads and writes one resource in one namespace ("" for
// cluster-scoped resources and for lists of all namespaces). Its methods
// have the signatures of client-go's typed clients.
type Resource[T Object] struct {
	client    rest.Interface
	resource  string
	namespace string
}

// on points req at this resource (in its namespace, if it has one).
func (r Resource[T]) on(req *rest.Request) *rest.Request {
	return req.NamespaceIfScoped(r.namespace, r.namespace != "").Resource(r.resource)
}

// Get reads the object name.
func (r Resource[T]) Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error) {
	return into[T](ctx, r.on(r.client.Get()).Name(name).
		VersionedParams(&opts, metav1.ParameterCodec))
}

// Create creates obj.
func (r Resource[T]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	return into[T](ctx, r.on(r.client.Post()).
		VersionedParams(&opts, metav1.ParameterCodec).Body(obj))
}

// Update replaces obj; the server refuses a stale resourceVersion with a
// Conflict.
func (r Resource[T]) Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	return into[T](ctx, r.on(r.client.Put()).Name(obj.GetName()).
		VersionedParams(&opts, metav1.ParameterCodec).Body(obj))
}

// UpdateStatus replaces obj's status through the status subresource.
func (r Resource[T]) UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error) {
	return into[T](ctx, r.on(r.client.Put()).Name(obj.GetName()).
		SubResource("status").VersionedParams(&opts, metav1.ParameterCodec).Body(obj))
}

// Patch applies data of type pt to the object name (or to one of its
// subresources).
func (r Resource[T]) Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error) {
	return into[T](ctx, r.on(r.client.Patch(pt)).Name(name).
		SubResource(subresources...).VersionedParams(&opts, metav1.ParameterCodec).Body(data))
}

// Delete deletes the object name; opts carries the grace period and
// preconditions.
func (r Resource[T]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return r.on(r.client.Delete()).Name(name).
		Body(&opts).Do(ctx).Error()
}

// ListWatch lists and watches the resource for an informer; tweak, when
// not nil, edits the options of every request (e.g. a field selector).
func (r Resource[T]) ListWatch(tweak func(*metav1.ListOptions)) *cache.ListWatch {
	if tweak == nil {
		tweak = func(*metav1.ListOptions) {}
	}
	return cache.NewFilteredListWatchFromClient(r.client, r.resource, r.namespace, tweak)
}

// into runs req and decodes the answer as a T. Error answers become the
// *StatusError the server sent.
func into[T Object](ctx context.Context, req *rest.Request) (T, error) {
	var zero T
	obj, err := req.Do(ctx).Get()
	if err != nil {
		return zero, err
	}
	t, ok := obj.(T)
	if !ok {
		return zero, fmt.Errorf("API answered with a %T, want a %T", obj, zero)
	}
	return t, nil
}
