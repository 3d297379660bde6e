package rootcacertpublisher_test

import (
	"fmt"

	"k8s.io/client-go/rest"

	"minik8s/pkg/controllers/rootcacertpublisher"
)

// ExampleRootCA: a controller-manager that reaches the apiserver over plain
// HTTP and has no --root-ca-file publishes the empty placeholder.
func ExampleRootCA() {
	ca, err := rootcacertpublisher.RootCA("", &rest.Config{Host: "http://127.0.0.1:6443"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s: %s=%q\n", rootcacertpublisher.ConfigMapName, rootcacertpublisher.Key, ca)
	// Output: kube-root-ca.crt: ca.crt=""
}
