package apiservertest_test

import (
	"context"
	"fmt"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestStart(t *testing.T) {
	s := apiservertest.Start(t)
	cs, err := kubernetes.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Items) != 4 {
		t.Fatalf("got %d namespaces, want the 4 created at start", len(ns.Items))
	}
}

// Example shows how an integration test of another package gets a server.
func Example() {
	t := &testing.T{} // in a real test, the test's own t
	s := apiservertest.Start(t)
	cs, _ := kubernetes.NewForConfig(s.Config)
	ns, _ := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{})
	fmt.Println(ns.Name)
}
