package certificates_test

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"minik8s/pkg/controllers/certificates"
)

// ExampleNewSigner: without the cluster CA's files the signer is built
// and signs nothing, as kube-controller-manager skips csrsigning.
func ExampleNewSigner() {
	cs := fake.NewClientset()
	s, err := certificates.NewSigner(cs, informers.NewSharedInformerFactory(cs, 0), certificates.SigningConfig{Duration: certificates.DefaultSigningDuration})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	s.Run(ctx, 1) // returns when ctx ends
	fmt.Println("signed nothing")
	// Output: signed nothing
}
