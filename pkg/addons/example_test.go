package addons_test

import (
	"context"
	"fmt"
	"os"

	"k8s.io/client-go/kubernetes/fake"

	"minik8s/pkg/addons"
)

func ExampleApply() {
	cs := fake.NewClientset()
	cfg := addons.NewDNSConfig()
	cfg.Upstream = "" // the lab: no resolver outside the cluster
	objs, err := addons.Lookup("dns", cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := addons.Apply(context.Background(), cs, objs, os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// serviceaccount/coredns created
	// clusterrole.rbac.authorization.k8s.io/system:coredns created
	// clusterrolebinding.rbac.authorization.k8s.io/system:coredns created
	// configmap/coredns created
	// deployment.apps/coredns created
	// service/kube-dns created
}
