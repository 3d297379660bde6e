// Command incluster is an in-cluster client-go program, as a pod's
// workload runs one: it takes its configuration from the ServiceAccount
// mount and KUBERNETES_SERVICE_* (rest.InClusterConfig: the token, the CA
// bundle, https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT),
// lists the pods of its namespace and prints how many, or the API's
// error and exits 1. The e2e tests build it and copy it into a pod.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		fmt.Println("config:", err)
		os.Exit(1)
	}
	ns, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		fmt.Println("namespace:", err)
		os.Exit(1)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		fmt.Println("client:", err)
		os.Exit(1)
	}
	pods, err := cs.CoreV1().Pods(strings.TrimSpace(string(ns))).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		fmt.Println("list:", err)
		os.Exit(1)
	}
	fmt.Printf("listed %d pods\n", len(pods.Items))
}
