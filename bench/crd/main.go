// Command crd measures how long a new CustomResourceDefinition takes to
// be served: from the create's response until the definition is
// Established, its resource is listed in discovery, and the first custom
// resource is accepted; then creates/s of custom resources against
// ConfigMaps on the same server.
//
//	go run ./bench/crd [-n 20] [-objects 2000]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"minik8s/bench/internal/benchserver"
	"minik8s/bench/internal/stats"
)

func main() {
	n := flag.Int("n", 20, "definitions to create, one after the other")
	objects := flag.Int("objects", 2000, "custom resources (and ConfigMaps) to create for the rate")
	flag.Parse()
	if err := run(*n, *objects); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func crd(i int) *apiextensionsv1.CustomResourceDefinition {
	plural := fmt.Sprintf("things%d", i)
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + ".bench.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "bench.example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: fmt.Sprintf("Thing%d", i)},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"size":  {Type: "integer"},
						"color": {Type: "string", Default: &apiextensionsv1.JSON{Raw: []byte(`"blue"`)}},
					}}},
				}},
			}},
		},
	}
}

func run(n, objects int) error {
	// Plain HTTP: this bench measures custom resources, not the cost of TLS and
	// authorization (bench/apiserver does).
	ctx := context.Background()
	s, err := benchserver.Start(ctx, "minik8s-bench-", benchserver.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	rc := &rest.Config{Host: s.URL, QPS: -1}
	ext := apiextensionsclient.NewForConfigOrDie(rc)
	disc := discovery.NewDiscoveryClientForConfigOrDie(rc)
	dyn := dynamic.NewForConfigOrDie(rc)
	cs := kubernetes.NewForConfigOrDie(rc)

	var toEstablished, toDiscovery, toFirstObject []time.Duration
	for i := range n {
		def := crd(i)
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, def, metav1.CreateOptions{}); err != nil {
			return err
		}
		start := time.Now()
		gvr := schema.GroupVersionResource{Group: "bench.example.com", Version: "v1", Resource: def.Spec.Names.Plural}
		var est, disco, first time.Duration
		for est == 0 || disco == 0 || first == 0 {
			if time.Since(start) > 30*time.Second {
				return fmt.Errorf("%s not served after 30 s", def.Name)
			}
			if est == 0 {
				got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, def.Name, metav1.GetOptions{})
				if err == nil {
					for _, c := range got.Status.Conditions {
						if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
							est = time.Since(start)
						}
					}
				}
			}
			if disco == 0 {
				if list, err := disc.ServerResourcesForGroupVersion("bench.example.com/v1"); err == nil {
					for _, r := range list.APIResources {
						if r.Name == def.Spec.Names.Plural {
							disco = time.Since(start)
						}
					}
				}
			}
			if first == 0 {
				u := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "bench.example.com/v1", "kind": def.Spec.Names.Kind,
					"metadata": map[string]any{"name": "first"}, "spec": map[string]any{"size": int64(1)},
				}}
				if _, err := dyn.Resource(gvr).Namespace("default").Create(ctx, u, metav1.CreateOptions{}); err == nil {
					first = time.Since(start)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
		toEstablished = append(toEstablished, est)
		toDiscovery = append(toDiscovery, disco)
		toFirstObject = append(toFirstObject, first)
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("%d definitions, one after the other (polled every 2 ms; the create's response → …):\n", n)
	fmt.Printf("  Established:              %s\n", stats.Summary(toEstablished, ms))
	fmt.Printf("  listed in discovery:      %s\n", stats.Summary(toDiscovery, ms))
	fmt.Printf("  first custom resource in: %s\n", stats.Summary(toFirstObject, ms))

	// Creates/s: custom resources (schema, pruning, defaulting) against
	// ConfigMaps (upstream's typed strategy), 4 clients each.
	gvr := schema.GroupVersionResource{Group: "bench.example.com", Version: "v1", Resource: "things0"}
	rate := func(create func(i int) error) (float64, error) {
		const clients = 4
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		start := time.Now()
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; i < objects; i += clients {
					if err := create(i); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return 0, err
		}
		return float64(objects) / time.Since(start).Seconds(), nil
	}
	for round := range 2 {
		cr, err := rate(func(i int) error {
			u := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "bench.example.com/v1", "kind": "Thing0",
				"metadata": map[string]any{"name": fmt.Sprintf("t%d-%d", round, i)}, "spec": map[string]any{"size": int64(i)},
			}}
			_, err := dyn.Resource(gvr).Namespace("default").Create(ctx, u, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		cm, err := rate(func(i int) error {
			_, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c%d-%d", round, i)}, Data: map[string]string{"size": fmt.Sprint(i)},
			}, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return err
		}
		fmt.Printf("round %d: custom resource creates %6.0f/s, ConfigMap creates %6.0f/s (%d each, 4 clients; ratio %.2f)\n", round+1, cr, cm, objects, cr/cm)
	}
	return nil
}
