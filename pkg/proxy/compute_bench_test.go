package proxy

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func BenchmarkCompute10k(b *testing.B) {
	var svcs []*v1.Service
	var sls []*discoveryv1.EndpointSlice
	for i := 0; i < 10000; i++ {
		name := fmt.Sprintf("s%d", i)
		svcs = append(svcs, service(name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)))
		var eps []epSpec
		for j := 0; j < 5; j++ {
			eps = append(eps, epSpec{ip: fmt.Sprintf("10.%d.%d.%d", 100+j, i/250, i%250+1), node: "node1", ready: true})
		}
		sls = append(sls, slice(name, 8080, v1.ProtocolTCP, eps...))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Compute(svcs, sls, "node1", nil)
	}
}
