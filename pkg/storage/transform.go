package storage

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apiserver/pkg/storage/value"
)

// TransformerFor picks the value transformer of one resource, named by
// its segment of the keys (Resource.StorageName: "secrets", or
// "group/plural" for a custom resource). nil stores the resource's
// values as they are. The apiserver builds it from an
// EncryptionConfiguration (--encryption-provider-config).
type TransformerFor func(storageName string) value.Transformer

// Option configures a Store.
type Option func(*Store)

// WithTransformers makes the store pass the values of the resources f
// names through their transformer on the way to and from etcd, as
// kube-apiserver's etcd3 store does: the key is the authenticated data,
// so a value copied under another key does not decrypt.
func WithTransformers(f TransformerFor) Option {
	return func(s *Store) { s.transformerFor = f }
}

// storageNameOf is the resource segment of key: the first segment after
// Root, or the first two when the first is a group (custom resources'
// groups hold a dot; built-in plurals never do).
func storageNameOf(key string) string {
	rest, ok := strings.CutPrefix(key, Root+"/")
	if !ok {
		return ""
	}
	first, rest, _ := strings.Cut(rest, "/")
	if !strings.Contains(first, ".") {
		return first
	}
	second, _, _ := strings.Cut(rest, "/")
	return first + "/" + second
}

// transformer is the transformer of key's resource, or nil.
func (s *Store) transformer(key string) value.Transformer {
	if s.transformerFor == nil {
		return nil
	}
	name := storageNameOf(key)
	if t, ok := s.transformers.Load(name); ok {
		if t == nil {
			return nil
		}
		return t.(value.Transformer)
	}
	t := s.transformerFor(name)
	if t == nil {
		s.transformers.Store(name, nil)
		return nil
	}
	s.transformers.Store(name, t)
	return t
}

// toStorage turns an encoded object into the value written at key.
func (s *Store) toStorage(ctx context.Context, key string, data []byte) ([]byte, error) {
	t := s.transformer(key)
	if t == nil {
		return data, nil
	}
	out, err := t.TransformToStorage(ctx, data, value.DefaultContext(key))
	if err != nil {
		return nil, fmt.Errorf("transforming %s for storage: %w", key, err)
	}
	return out, nil
}

// fromStorage turns the value stored at key back into the encoded
// object. stale says it was written with a key that is no longer the
// first (an update should rewrite it even when nothing else changed).
func (s *Store) fromStorage(ctx context.Context, key string, stored []byte) (data []byte, stale bool, err error) {
	t := s.transformer(key)
	if t == nil {
		return stored, false, nil
	}
	data, stale, err = t.TransformFromStorage(ctx, stored, value.DefaultContext(key))
	if err != nil {
		return nil, false, fmt.Errorf("transforming %s from storage: %w", key, err)
	}
	return data, stale, nil
}
