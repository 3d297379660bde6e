package garbagecollector

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestMetadataListWatch checks what the collector rests on: the apiserver
// answers client-go's metadata client (lists and watches of
// PartialObjectMetadata) and a metadata informer follows it.
func TestMetadataListWatch(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	md := metadata.NewForConfigOrDie(srv.Config)
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default", Labels: map[string]string{"x": "y"}},
		Data:       map[string]string{"big": "value"},
	}
	if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	list, err := md.Resource(cms).Namespace("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("metadata list: %v", err)
	}
	if list.Kind != "PartialObjectMetadataList" && list.Kind != "" {
		t.Errorf("list kind %q", list.Kind)
	}
	found := false
	for _, it := range list.Items {
		if it.Name == "a" && it.Labels["x"] == "y" && it.UID != "" {
			found = true
		}
	}
	if !found || list.ResourceVersion == "" {
		t.Fatalf("metadata list: got %+v, want configmap a with its labels and a resourceVersion", list)
	}

	w, err := md.Resource(cms).Namespace("default").Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("metadata watch: %v", err)
	}
	defer w.Stop()
	if err := client.CoreV1().ConfigMaps("default").Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		pm, ok := ev.Object.(*metav1.PartialObjectMetadata)
		if ev.Type != watch.Deleted || !ok || pm.Name != "a" || pm.UID == "" {
			t.Fatalf("metadata watch: got %s %#v, want DELETED of a as PartialObjectMetadata", ev.Type, ev.Object)
		}
	case <-ctx.Done():
		t.Fatal("metadata watch: no event")
	}

	// An informer (list, then watch, or a watch-list where client-go does
	// that) of a cluster-scoped and a namespaced kind.
	for _, gvr := range []schema.GroupVersionResource{
		{Version: "v1", Resource: "namespaces"},
		{Group: "apps", Version: "v1", Resource: "statefulsets"},
	} {
		inf := metadatainformer.NewFilteredMetadataInformer(md, gvr, "", 0, cache.Indexers{}, nil).Informer()
		ictx, stop := context.WithCancel(ctx)
		go inf.RunWithContext(ictx)
		if !cache.WaitForCacheSync(ictx.Done(), inf.HasSynced) {
			t.Fatalf("%s: metadata informer did not sync", gvr.Resource)
		}
		if gvr.Resource == "namespaces" {
			if _, ok, _ := inf.GetStore().GetByKey("kube-system"); !ok {
				t.Errorf("namespaces: kube-system not in the metadata cache")
			}
			if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "later"}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				if o, ok, _ := inf.GetStore().GetByKey("later"); ok {
					if _, isMeta := o.(*metav1.PartialObjectMetadata); !isMeta {
						t.Errorf("cached %T, want *PartialObjectMetadata", o)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("namespaces: the watch did not bring namespace later into the metadata cache")
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		stop()
	}
}
