package nodeclient_test

import (
	"context"
	"fmt"
	"log"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"minik8s/pkg/nodeclient"
)

// An agent registers its Node and keeps an informer of the pods bound to
// it.
func ExampleNew() {
	ctx := context.Background()
	client, err := nodeclient.New(&rest.Config{Host: "http://10.200.0.1:6443", QPS: 50, Burst: 100})
	if err != nil {
		log.Fatal(err)
	}
	_, err = client.Nodes().Get(ctx, "node1", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}, metav1.CreateOptions{})
	}
	if err != nil {
		log.Fatal(err)
	}
	pods := nodeclient.NewInformer(client.Pods("").ListWatch(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", "node1").String()
	}), &v1.Pod{})
	go pods.RunWithContext(ctx)
	cache.WaitForCacheSync(ctx.Done(), pods.HasSynced)
	fmt.Println(len(pods.GetStore().List()), "pods on node1")
}
