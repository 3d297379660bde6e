package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"
)

// getter reads one object by name; nodeclient's resources and client-go's
// typed clients both have it.
type getter[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
}

// objectTTL is how long a ConfigMap, Secret, claim or volume read from the
// API serves every pod of the node, as the kubelet's TTL-based object
// cache (configMapAndSecretChangeDetectionStrategy: Cache) does.
const objectTTL = 10 * time.Second

// apiObjects are the objects pods refer to — ConfigMaps and Secrets for
// env and volumes, claims and their volumes — read with plain GETs through
// a small cache shared by the node's pods. Watching every ConfigMap and
// Secret of the cluster would cost the agent memory in proportion to the
// cluster; this costs one entry per object in use, for objectTTL.
type apiObjects struct {
	configMaps func(ns string) getter[*v1.ConfigMap]
	secrets    func(ns string) getter[*v1.Secret]
	claims     func(ns string) getter[*v1.PersistentVolumeClaim]
	volumes    func() getter[*v1.PersistentVolume]
	// services are the cluster's Services, for the containers' service
	// variables; nil gives none.
	services serviceLister
	// clusterTrustBundles reads the ClusterTrustBundles of projected
	// volumes; nil leaves them out.
	clusterTrustBundles trustBundleAPI
	ttl                 time.Duration
	now                 func() time.Time

	mu    sync.Mutex
	cache map[objectKey]cachedObject
}

type objectKey struct{ kind, ns, name string }

type cachedObject struct {
	obj any
	err error
	at  time.Time
}

// The group resources of the kubelet's object managers: their not-found
// errors read `configmap "cfg" not found`, `secret "s" not found`.
var (
	configMapResource = schema.GroupResource{Resource: "configmap"}
	secretResource    = schema.GroupResource{Resource: "secret"}
)

func fetch[T any](ctx context.Context, o *apiObjects, kind, ns, name string, g getter[T], gr schema.GroupResource) (T, error) {
	key := objectKey{kind, ns, name}
	now := time.Now()
	if o.now != nil {
		now = o.now()
	}
	o.mu.Lock()
	if c, ok := o.cache[key]; ok && now.Sub(c.at) < o.ttl {
		o.mu.Unlock()
		if c.err != nil {
			var zero T
			return zero, c.err
		}
		return c.obj.(T), nil
	}
	o.mu.Unlock()
	obj, err := g.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && gr.Resource != "" {
		err = apierrors.NewNotFound(gr, name)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		// Not cached: a transient failure is retried at once.
		return obj, err
	}
	o.mu.Lock()
	if o.cache == nil {
		o.cache = map[objectKey]cachedObject{}
	}
	for k, c := range o.cache {
		if now.Sub(c.at) >= o.ttl {
			delete(o.cache, k)
		}
	}
	if o.ttl > 0 {
		o.cache[key] = cachedObject{obj: obj, err: err, at: now}
	}
	o.mu.Unlock()
	return obj, err
}

func (o *apiObjects) configMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error) {
	return fetch(ctx, o, "configmap", ns, name, o.configMaps(ns), configMapResource)
}

func (o *apiObjects) secret(ctx context.Context, ns, name string) (*v1.Secret, error) {
	return fetch(ctx, o, "secret", ns, name, o.secrets(ns), secretResource)
}

func (o *apiObjects) claim(ctx context.Context, ns, name string) (*v1.PersistentVolumeClaim, error) {
	return fetch(ctx, o, "pvc", ns, name, o.claims(ns), schema.GroupResource{})
}

func (o *apiObjects) volume(ctx context.Context, name string) (*v1.PersistentVolume, error) {
	return fetch(ctx, o, "pv", "", name, o.volumes(), schema.GroupResource{})
}

// trustBundleAPI reads ClusterTrustBundles by name and lists them by
// signer and labels.
type trustBundleAPI interface {
	getter[*certificatesv1.ClusterTrustBundle]
	List(ctx context.Context, opts metav1.ListOptions) (*certificatesv1.ClusterTrustBundleList, error)
}

// getterFunc makes a function a getter, for reads fetch caches that are
// not a GET by name.
type getterFunc[T any] func(ctx context.Context, name string) (T, error)

func (f getterFunc[T]) Get(ctx context.Context, name string, _ metav1.GetOptions) (T, error) {
	return f(ctx, name)
}

// clusterTrustBundleResource names ClusterTrustBundles in not-found
// errors as the kubelet's lister does.
var clusterTrustBundleResource = schema.GroupResource{Group: "certificates.k8s.io", Resource: "clustertrustbundle"}

func (o *apiObjects) readsTrustBundles() bool { return o.clusterTrustBundles != nil }

func (o *apiObjects) trustBundle(ctx context.Context, name string) (*certificatesv1.ClusterTrustBundle, error) {
	return fetch(ctx, o, "clustertrustbundle", "", name, o.clusterTrustBundles, clusterTrustBundleResource)
}

// trustBundlesOf lists the ClusterTrustBundles of signer whose labels
// match selector (cached as a read by name is, keyed by the selector).
func (o *apiObjects) trustBundlesOf(ctx context.Context, signer string, selector labels.Selector) ([]certificatesv1.ClusterTrustBundle, error) {
	list := getterFunc[*certificatesv1.ClusterTrustBundleList](func(ctx context.Context, sel string) (*certificatesv1.ClusterTrustBundleList, error) {
		return o.clusterTrustBundles.List(ctx, metav1.ListOptions{
			LabelSelector: sel,
			FieldSelector: fields.OneTermEqualSelector("spec.signerName", signer).String(),
		})
	})
	l, err := fetch(ctx, o, "clustertrustbundles-of:"+signer, "", selector.String(), list, schema.GroupResource{})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// serviceLister is where the containers' service variables come from:
// the agent's informer of the cluster's Services (as the kubelet's
// serviceLister), indexed by namespace (cache.NamespaceIndex). Unlike
// ConfigMaps and Secrets, Services are watched: a pod made right after
// its Services must see them all, which a cached read could miss.
type serviceLister interface {
	GetIndexer() cache.Indexer
	HasSynced() bool
}

// errServicesNotSynced is the kubelet's error while its Service informer
// has not listed once: the container waits (CreateContainerConfigError)
// rather than start without KUBERNETES_SERVICE_HOST.
var errServicesNotSynced = errors.New("services have not yet been read at least once, cannot construct envvars")

// serviceEnv are the service variables of pod's containers
// (serviceEnvVars): those of its namespace's Services unless
// enableServiceLinks is false, and the default/kubernetes Service's.
func (o *apiObjects) serviceEnv(pod *v1.Pod) ([]envVar, error) {
	if o.services == nil {
		return nil, nil
	}
	if !o.services.HasSynced() {
		return nil, errServicesNotSynced
	}
	namespaces := []string{metav1.NamespaceDefault}
	if pod.Namespace != metav1.NamespaceDefault {
		namespaces = append(namespaces, pod.Namespace)
	}
	var svcs []*v1.Service
	for _, ns := range namespaces {
		objs, err := o.services.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
		if err != nil {
			return nil, fmt.Errorf("failed to list services when setting up env vars: %w", err)
		}
		for _, obj := range objs {
			if svc, ok := obj.(*v1.Service); ok {
				svcs = append(svcs, svc)
			}
		}
	}
	// The API defaults enableServiceLinks to true; a pod without it
	// (one made in a test) gets the default.
	links := pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks
	return serviceEnvVars(pod.Namespace, links, svcs), nil
}
