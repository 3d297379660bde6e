package tokencleaner_test

import (
	"fmt"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"minik8s/pkg/controllers/tokencleaner"
)

// ExampleNew builds the cleaner on a client and an informer factory; the
// controller-manager runs it with the others.
func ExampleNew() {
	cs := fake.NewClientset()
	c, err := tokencleaner.New(cs, informers.NewSharedInformerFactory(cs, 0))
	fmt.Println(c != nil, err)
	// Output: true <nil>
}
