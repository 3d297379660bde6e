package podautoscaler_test

import (
	"fmt"

	"minik8s/pkg/controllers/podautoscaler"
)

// The defaults are kube-controller-manager's.
func ExampleDefaultConfig() {
	cfg := podautoscaler.DefaultConfig()
	fmt.Println(cfg.SyncPeriod, cfg.DownscaleStabilization, cfg.Tolerance, cfg.Validate())
	// Output: 15s 5m0s 0.1 <nil>
}
