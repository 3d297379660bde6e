package kubelet_test

import (
	"fmt"

	"minik8s/pkg/kubelet"
)

func ExampleNewConfig() {
	cfg := kubelet.NewConfig()
	cfg.NodeName = "node1"
	cfg.PodCIDR = "10.244.1.0/24"
	cfg.RegistryMirrors = []string{"docker.io=http://10.200.0.1:5000"}
	fmt.Println(cfg.Validate(), cfg.Listen, cfg.LeaseDuration)
	// Output: <nil> :10250 40s
}
