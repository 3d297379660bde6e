package endpointslice

import (
	"context"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/controller/endpointslicemirroring"
)

// Upstream's defaults for the mirroring controller
// (kube-controller-manager's --mirroring-max-endpoints-per-subset and
// --mirroring-endpointslice-updates-batch-period).
const (
	mirroringMaxEndpointsPerSubset = 1000
	mirroringBatchPeriod           = 0 * time.Second
)

// NewMirroring is kube-controller-manager's EndpointSlice mirroring
// controller (upstream's code): the Endpoints of a Service without a
// selector, written by hand or by another controller, are mirrored into
// EndpointSlices managed by "endpointslicemirroring-controller.k8s.io",
// which is what the proxy and cluster DNS read. Endpoints that this
// package's controller writes are the selector's and are not mirrored.
func NewMirroring(ctx context.Context, cs kubernetes.Interface, factory informers.SharedInformerFactory) *endpointslicemirroring.Controller {
	return endpointslicemirroring.NewController(ctx,
		factory.Core().V1().Endpoints(), factory.Discovery().V1().EndpointSlices(), factory.Core().V1().Services(),
		mirroringMaxEndpointsPerSubset, cs, mirroringBatchPeriod)
}
