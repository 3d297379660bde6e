package expectations_test

import (
	"fmt"

	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/expectations"
)

// A ReplicaSet controller scaling "default/web" up by two pods.
func Example() {
	exp := expectations.New(clock.RealClock{})
	exp.ExpectCreations("default/web", 2)
	// ... two create requests sent; the informer delivers one pod so far.
	exp.CreationObserved("default/web")
	fmt.Println("resize now:", exp.Satisfied("default/web"))
	exp.CreationObserved("default/web")
	fmt.Println("resize now:", exp.Satisfied("default/web"))
	// Output:
	// resize now: false
	// resize now: true
}
