// Package nodeclient is the API client of the node agent and its Service
// proxy: the few resources they read and write (Nodes, Pods, Services,
// Events, Leases, EndpointSlices), on client-go's rest.RESTClient with a
// scheme of only core/v1, coordination/v1 and discovery/v1.
//
// client-go's clientset registers every API group at start and links a
// typed client and informer for each; in an agent that runs on every node
// that costs more memory than everything else it does. The methods here
// keep client-go's signatures and error values (a *StatusError, so
// apierrors.IsNotFound and IsConflict work), and ListWatch feeds
// NewInformer, a cache.SharedIndexInformer.
package nodeclient
