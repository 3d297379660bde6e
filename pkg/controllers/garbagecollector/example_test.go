package garbagecollector_test

import (
	"context"
	"os"
	"os/signal"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"minik8s/pkg/controllers/garbagecollector"
)

// ExampleNewForConfig runs the collector against an apiserver until
// interrupted: it follows whatever the API serves, custom resources
// included, with no list of kinds to keep up to date.
func ExampleNewForConfig() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	gc, err := garbagecollector.NewForConfig(&rest.Config{Host: "http://127.0.0.1:6443"}, &record.FakeRecorder{})
	if err != nil {
		panic(err)
	}
	gc.Run(ctx, 5)
}
