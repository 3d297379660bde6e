package deployment_test

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/intstr"

	"minik8s/pkg/controllers/deployment"
)

func ExampleResolveFenceposts() {
	surge, unavailable := intstr.FromString("25%"), intstr.FromString("25%")
	s, u, _ := deployment.ResolveFenceposts(&surge, &unavailable, 10)
	fmt.Println(s, u) // surge rounds up, unavailable down
	// Output: 3 2
}
