package storage

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/storage/value"
)

func TestStorageNameOf(t *testing.T) {
	for _, tt := range []struct{ key, want string }{
		{"/registry/secrets/default/db", "secrets"},
		{"/registry/namespaces/default", "namespaces"},
		{"/registry/secrets/", "secrets"},
		{"/registry/example.com/widgets/default/w", "example.com/widgets"},
		{"/registry/example.com/widgets/", "example.com/widgets"},
		{"/elsewhere/secrets/x", ""},
	} {
		if got := storageNameOf(tt.key); got != tt.want {
			t.Errorf("storageNameOf(%q): got %q, want %q", tt.key, got, tt.want)
		}
	}
}

// tagTransformer stores "tag:<key>:" + base64(data): a test stand-in for
// encryption that shows which key was the authenticated data; values
// without its prefix read as stale plaintext, as with an identity
// provider listed second.
type tagTransformer struct{}

func (tagTransformer) TransformToStorage(_ context.Context, data []byte, dc value.Context) ([]byte, error) {
	return []byte("tag:" + string(dc.AuthenticatedData()) + ":" + base64.StdEncoding.EncodeToString(data)), nil
}

func (tagTransformer) TransformFromStorage(_ context.Context, data []byte, dc value.Context) ([]byte, bool, error) {
	prefix := "tag:" + string(dc.AuthenticatedData()) + ":"
	if !bytes.HasPrefix(data, []byte("tag:")) {
		return data, true, nil
	}
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return nil, false, fmt.Errorf("value authenticated for another key")
	}
	out, err := base64.StdEncoding.DecodeString(string(data[len(prefix):]))
	return out, false, err
}

// TestTransformers: the configured resource's values go through the
// transformer on every path (create, get, update, list, raw list,
// watch, raw watch, delete), the others do not; a stale value is
// rewritten by an update that changes nothing.
func TestTransformers(t *testing.T) {
	base := startStore(t)
	s := New(base.Client(), WithTransformers(func(name string) value.Transformer {
		if name == "pods" {
			return tagTransformer{}
		}
		return nil
	}))
	ctx := context.Background()
	key := Key("pods", "default", "a")
	raw := func(key string) string {
		resp, err := s.Client().Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("reading %s: %v", key, err)
		}
		return string(resp.Kvs[0].Value)
	}
	events := s.Watch(ctx, Prefix("pods", "default"), newPod, WatchOptions{ResourceVersion: 1})
	rawEvents := s.Watch(ctx, Prefix("pods", "default"), newPod, WatchOptions{ResourceVersion: 1, Raw: true})
	if err := s.Create(ctx, key, pod("default", "a")); err != nil {
		t.Fatal(err)
	}
	if got := raw(key); !strings.HasPrefix(got, "tag:"+key+":") {
		t.Fatalf("stored: got %q, want the transformer's value", got)
	}
	other := Key("configmaps", "default", "c")
	if err := s.Create(ctx, other, pod("default", "c")); err != nil {
		t.Fatal(err)
	}
	if got := raw(other); !strings.HasPrefix(got, "{") {
		t.Fatalf("untransformed resource stored: got %q, want JSON", got)
	}
	// A value copied under another key does not read.
	if _, err := s.Client().Put(ctx, Key("pods", "other", "copy"), raw(key)); err != nil {
		t.Fatal(err)
	}
	var cp = newPod()
	if err := s.Get(ctx, Key("pods", "other", "copy"), cp); err == nil {
		t.Error("get of a value copied from another key: got no error")
	}
	if _, err := s.Client().Delete(ctx, Key("pods", "other", "copy")); err != nil {
		t.Fatal(err)
	}

	got := newPod()
	if err := s.Get(ctx, key, got); err != nil {
		t.Fatal(err)
	}
	if n := got.(interface{ GetName() string }).GetName(); n != "a" {
		t.Errorf("get: got %q, want a", n)
	}
	list, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("list: got %v %v, want 1 item", list, err)
	}
	rl, err := s.List(ctx, Prefix("pods", ""), newPod, ListOptions{Raw: true})
	if err != nil || len(rl.Raw) != 1 || !bytes.HasPrefix(rl.Raw[0].Data, []byte(`{"kind":"Pod"`)) {
		t.Fatalf("raw list: got %v %v, want the pod's JSON", rl, err)
	}
	for _, ch := range []<-chan Event{events, rawEvents} {
		ev := <-ch
		if ev.Type != watch.Added || (ev.Object == nil && !bytes.HasPrefix(ev.Raw, []byte(`{"kind":"Pod"`))) {
			t.Fatalf("watch: got %s %v %q, want the pod added", ev.Type, ev.Err, ev.Raw)
		}
	}

	// A plaintext value (written before the transformer) reads as stale:
	// an update that changes nothing rewrites it.
	if _, err := s.Client().Put(ctx, key, `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a","namespace":"default"}}`); err != nil {
		t.Fatal(err)
	}
	if err := s.GuaranteedUpdate(ctx, key, newPod(), func(cur runtime.Object) (runtime.Object, error) { return cur, nil }); err != nil {
		t.Fatal(err)
	}
	if got := raw(key); !strings.HasPrefix(got, "tag:"+key+":") {
		t.Errorf("stale value after a no-op update: got %q, want it rewritten", got)
	}
	// And a current one is not rewritten.
	before, _ := s.Client().Get(ctx, key)
	if err := s.GuaranteedUpdate(ctx, key, newPod(), func(cur runtime.Object) (runtime.Object, error) { return cur, nil }); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Client().Get(ctx, key)
	if before.Kvs[0].ModRevision != after.Kvs[0].ModRevision {
		t.Errorf("no-op update of a current value: revision %d → %d, want no write", before.Kvs[0].ModRevision, after.Kvs[0].ModRevision)
	}
	out := newPod()
	if err := s.Delete(ctx, key, out, nil, nil); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan Event{events, rawEvents} {
		var last Event
		for ev := range ch {
			last = ev
			if ev.Type == watch.Deleted {
				break
			}
			if ev.Type == watch.Error {
				t.Fatalf("watch error: %v", ev.Err)
			}
		}
		if last.Object == nil && !bytes.Contains(last.Raw, []byte(`"name":"a"`)) {
			t.Errorf("deleted event: got %q, want the pod's JSON", last.Raw)
		}
	}
}
