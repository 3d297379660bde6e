package loadbalancer_test

import (
	"fmt"

	"minik8s/pkg/controllers/loadbalancer"
)

func ExampleParsePool() {
	pool, err := loadbalancer.ParsePool([]string{"10.200.0.200-10.200.0.250", "10.201.0.0/29"})
	if err != nil {
		panic(err)
	}
	ip, _ := pool.Allocate("default/web")
	fmt.Println(pool.Size(), ip, pool.Contains("10.201.0.6"))
	// Output: 57 10.200.0.200 true
}
