package nodeipam_test

import (
	"fmt"
	"net"

	"minik8s/pkg/controllers/nodeipam"
)

func ExampleAllocator() {
	_, cluster, _ := net.ParseCIDR("10.244.0.0/16")
	a, _ := nodeipam.NewAllocator(cluster, 24)
	a.Occupy("10.244.0.0/24") // a node that came with --pod-cidr
	next, _ := a.Allocate()
	fmt.Println(next)
	// Output: 10.244.1.0/24
}
