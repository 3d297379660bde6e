// Package endpointslice publishes, for every Service with a selector, the
// addresses of the pods it selects: discovery.k8s.io/v1 EndpointSlices (at
// most 100 endpoints each, one set of slices per distinct resolution of the
// Service's named target ports) with ready/serving/terminating conditions,
// and the core/v1 Endpoints mirrored from them for older clients. A pod on a
// node that is not ready (or tainted unreachable/not-ready) is published as
// not ready at once. Services without a selector are left alone: their
// endpoints belong to someone else (the apiserver for default/kubernetes).
package endpointslice
