package api

import (
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// Scheme knows every k8s.io/api type (client-go's scheme, so autoscaling/v1
// Scale is there too), the meta/v1 types a server needs (Status, WatchEvent,
// the options types, Table, PartialObjectMetadata) and the internal meta
// types the option decoders convert into.
var Scheme = runtime.NewScheme()

// Codecs serializes and decodes with Scheme.
var Codecs = serializer.NewCodecFactory(Scheme)

// ParameterCodec decodes query parameters (ListOptions, DeleteOptions, …)
// with Scheme.
var ParameterCodec = runtime.NewParameterCodec(Scheme)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(Scheme))
	// The options types (ListOptions, DeleteOptions, …) and WatchEvent under
	// the core "v1", as Kubernetes' own server registers them.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	// meta.k8s.io/v1 and its internal version: Table, PartialObjectMetadata,
	// internal ListOptions with label/field selector conversion.
	utilruntime.Must(metainternalversion.AddToScheme(Scheme))
	Scheme.AddUnversionedTypes(schema.GroupVersion{Version: "v1"},
		&metav1.Status{},
		&metav1.APIVersions{},
		&metav1.APIGroupList{},
		&metav1.APIGroup{},
		&metav1.APIResourceList{},
	)
}

var (
	verbsAll          = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
	verbsNoCollection = []string{"create", "delete", "get", "list", "patch", "update", "watch"}
)

// resources is the table, in discovery order within each group/version:
// the kinds with strategies of their own, then the builtins.
var resources = append(ownResources, builtinResources()...)

func builtinResources() []*Resource {
	out := make([]*Resource, 0, len(builtins))
	for _, b := range builtins {
		out = append(out, b.resource())
	}
	return out
}

var ownResources = []*Resource{
	{
		Version: "v1", Kind: "Namespace", ListKind: "NamespaceList",
		Plural: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
		Namespaced:   false,
		Subresources: []string{"status", "finalize"},
		Verbs:        verbsNoCollection,
		New:          func() runtime.Object { return &corev1.Namespace{} },
		NewList:      func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy:     namespaceStrategy,
	},
	{
		Version: "v1", Kind: "Pod", ListKind: "PodList",
		Plural: "pods", Singular: "pod", ShortNames: []string{"po"},
		Namespaced:   true,
		Categories:   []string{"all"},
		Subresources: []string{"status", "binding", "eviction", "log", "exec", "attach", "portforward", "proxy", "ephemeralcontainers"},
		Verbs:        verbsAll,
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		Strategy:     podStrategy,
		StatusLike:   map[string]Strategy{"ephemeralcontainers": podEphemeralContainersStrategy},
	},
	{
		Version: "v1", Kind: "Service", ListKind: "ServiceList",
		Plural: "services", Singular: "service", ShortNames: []string{"svc"},
		Namespaced:   true,
		Categories:   []string{"all"},
		Subresources: []string{"status", "proxy"},
		Verbs:        verbsAll,
		New:          func() runtime.Object { return &corev1.Service{} },
		NewList:      func() runtime.Object { return &corev1.ServiceList{} },
		Strategy:     serviceStrategy,
	},
	{
		Version: "v1", Kind: "Endpoints", ListKind: "EndpointsList",
		Plural: "endpoints", Singular: "endpoints", ShortNames: []string{"ep"},
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &corev1.Endpoints{} },
		NewList:    func() runtime.Object { return &corev1.EndpointsList{} },
		Strategy:   endpointsStrategy,
	},
	{
		Version: "v1", Kind: "Node", ListKind: "NodeList",
		Plural: "nodes", Singular: "node", ShortNames: []string{"no"},
		Namespaced:   false,
		Subresources: []string{"status", "proxy"},
		Verbs:        verbsAll,
		New:          func() runtime.Object { return &corev1.Node{} },
		NewList:      func() runtime.Object { return &corev1.NodeList{} },
		Strategy:     nodeStrategy,
	},
	{
		Version: "v1", Kind: "Event", ListKind: "EventList",
		Plural: "events", Singular: "event", ShortNames: []string{"ev"},
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &corev1.Event{} },
		NewList:    func() runtime.Object { return &corev1.EventList{} },
		Strategy:   eventStrategy,
	},
	{
		Group: "apps", Version: "v1", Kind: "Deployment", ListKind: "DeploymentList",
		Plural: "deployments", Singular: "deployment", ShortNames: []string{"deploy"},
		Namespaced:   true,
		Categories:   []string{"all"},
		Subresources: []string{"status", "scale"},
		Verbs:        verbsAll,
		New:          func() runtime.Object { return &appsv1.Deployment{} },
		NewList:      func() runtime.Object { return &appsv1.DeploymentList{} },
		Strategy:     deploymentStrategy,
	},
	{
		Group: "apps", Version: "v1", Kind: "ReplicaSet", ListKind: "ReplicaSetList",
		Plural: "replicasets", Singular: "replicaset", ShortNames: []string{"rs"},
		Namespaced:   true,
		Categories:   []string{"all"},
		Subresources: []string{"status", "scale"},
		Verbs:        verbsAll,
		New:          func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:      func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Strategy:     replicaSetStrategy,
	},
	{
		Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice", ListKind: "EndpointSliceList",
		Plural: "endpointslices", Singular: "endpointslice",
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Strategy:   endpointSliceStrategy,
	},
	{
		Group: "coordination.k8s.io", Version: "v1", Kind: "Lease", ListKind: "LeaseList",
		Plural: "leases", Singular: "lease",
		Namespaced: true,
		Verbs:      verbsAll,
		New:        func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:    func() runtime.Object { return &coordinationv1.LeaseList{} },
		Strategy:   leaseStrategy,
	},
}

// Resources returns every built-in resource, in discovery order. The
// slice is shared: do not modify it.
func Resources() []*Resource { return resources }

// Lookup finds a built-in resource by group, version and plural ("",
// "v1", "pods").
func Lookup(group, version, plural string) (*Resource, bool) {
	return (*Table)(nil).Lookup(group, version, plural)
}

// LookupKind finds a built-in resource by its group/version/kind.
func LookupKind(gvk schema.GroupVersionKind) (*Resource, bool) {
	return (*Table)(nil).LookupKind(gvk)
}

// subresourceAPI is what discovery says of each subresource.
var subresourceAPI = map[string]struct {
	group, version, kind string
	verbs                []string
}{
	"status":              {verbs: []string{"get", "patch", "update"}},
	"approval":            {verbs: []string{"get", "patch", "update"}},
	"ephemeralcontainers": {verbs: []string{"get", "patch", "update"}},
	"scale":               {group: "autoscaling", version: "v1", kind: "Scale", verbs: []string{"get", "patch", "update"}},
	"binding":             {kind: "Binding", verbs: []string{"create"}},
	"log":                 {kind: "Pod", verbs: []string{"get"}},
	"exec":                {kind: "PodExecOptions", verbs: []string{"create", "get"}},
	"portforward":         {kind: "PodPortForwardOptions", verbs: []string{"create", "get"}},
	"attach":              {kind: "PodAttachOptions", verbs: []string{"create", "get"}},
	"finalize":            {kind: "Namespace", verbs: []string{"update"}},
	"eviction":            {group: "policy", version: "v1", kind: "Eviction", verbs: []string{"create"}},
	"token":               {group: "authentication.k8s.io", version: "v1", kind: "TokenRequest", verbs: []string{"create"}},

	// proxy's kind is the resource's: PodProxyOptions, ServiceProxyOptions, NodeProxyOptions.
	"proxy": {kind: "ProxyOptions", verbs: []string{"create", "delete", "get", "patch", "update"}},
}

// APIResources returns r's discovery entries: the resource itself, then
// one per subresource ("pods/status", …), as Kubernetes lists them in an
// APIResourceList.
func (r *Resource) APIResources() []metav1.APIResource {
	out := []metav1.APIResource{{
		Name:         r.Plural,
		SingularName: r.Singular,
		Namespaced:   r.Namespaced,
		Kind:         r.Kind,
		Verbs:        append([]string(nil), r.Verbs...),
		ShortNames:   append([]string(nil), r.ShortNames...),
		Categories:   append([]string(nil), r.Categories...),
	}}
	for _, sub := range r.Subresources {
		s, ok := subresourceAPI[sub]
		if !ok {
			continue
		}
		kind := s.kind
		switch {
		case kind == "":
			kind = r.Kind
		case sub == "proxy":
			kind = r.Kind + kind
		}
		out = append(out, metav1.APIResource{
			Name:       r.Plural + "/" + sub,
			Namespaced: r.Namespaced,
			Group:      s.group,
			Version:    s.version,
			Kind:       kind,
			Verbs:      append([]string(nil), s.verbs...),
		})
	}
	return out
}
