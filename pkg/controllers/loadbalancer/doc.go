// Package loadbalancer gives Services of type LoadBalancer an address from
// the pool set by --lb-pool (status.loadBalancer.ingress[].ip), honouring a
// requested spec.loadBalancerIP when it is free and in the pool, and frees
// it when the Service is deleted or changes type. When the pool is empty or
// not configured the Service stays pending with a Warning Event
// (AllocationFailed) that says why and which flag fixes it. Addresses are
// rebuilt from the Services' status at start.
package loadbalancer
