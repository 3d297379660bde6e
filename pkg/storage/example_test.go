package storage_test

import (
	"context"
	"fmt"
	"os"

	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func Example() {
	dir, _ := os.MkdirTemp("", "example-etcd-")
	defer os.RemoveAll(dir)
	cfg := storage.NewEtcdConfig(dir)
	cfg.UnsafeNoFsync = true
	e, err := storage.StartEtcd(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	client, err := storage.NewClient([]string{e.Endpoint()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	s := storage.New(client)
	ns := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "demo"}}
	if err := s.Create(context.Background(), storage.Key("namespaces", "", "demo"), ns); err != nil {
		fmt.Println(err)
		return
	}
	var got corev1.Namespace
	_ = s.Get(context.Background(), storage.Key("namespaces", "", "demo"), &got)
	fmt.Println(got.Name, got.ResourceVersion == ns.ResourceVersion)
	// Output: demo true
}
