package apiserver

import (
	"context"
	"fmt"
	"strings"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
	"k8s.io/apiserver/pkg/storage/value"
)

// encryptionAtRest reads --encryption-provider-config, kube-apiserver's
// EncryptionConfiguration (apiserver.config.k8s.io/v1), with
// kube-apiserver's own loader: the same validation, the same providers
// (aescbc, aesgcm, secretbox, identity, kms), the first provider of a
// resource encrypting and all of them decrypting, and the same
// "k8s:enc:<provider>:v1:<key name>:" prefixes on the stored values.
// The result tells the store which resources to transform; the others
// are stored as plain JSON. ctx bounds the goroutines a KMS provider
// starts.
func encryptionAtRest(ctx context.Context, path string) (storage.TransformerFor, error) {
	ec, err := encryptionconfig.LoadEncryptionConfig(ctx, path, false, "minik8s")
	if err != nil {
		return nil, fmt.Errorf("--encryption-provider-config %s: %w", path, err)
	}
	return transformerFor(ec.Transformers, builtinGroups()), nil
}

// builtinGroups maps the storage name of each built-in resource to its
// group; a plural served by two groups (events) is the core group's, as
// in kube-apiserver where they share one storage.
func builtinGroups() map[string]string {
	groups := map[string]string{}
	for _, r := range (*api.Table)(nil).Resources() {
		if g, ok := groups[r.StorageName()]; !ok || (g != "" && r.Group == "") {
			groups[r.StorageName()] = r.Group
		}
	}
	return groups
}

// transformerFor resolves a storage name to its transformer with
// kube-apiserver's precedence: the resource itself, then its group's
// "*", then "*.*". A custom resource's storage name is "group/plural".
func transformerFor(overrides map[schema.GroupResource]value.Transformer, builtin map[string]string) storage.TransformerFor {
	return func(storageName string) value.Transformer {
		gr := schema.GroupResource{Resource: storageName}
		if group, plural, ok := strings.Cut(storageName, "/"); ok {
			gr = schema.GroupResource{Group: group, Resource: plural}
		} else if g, ok := builtin[storageName]; ok {
			gr.Group = g
		}
		for _, k := range []schema.GroupResource{gr, {Group: gr.Group, Resource: "*"}, {Group: "*", Resource: "*"}} {
			if t := overrides[k]; t != nil {
				return t
			}
		}
		return nil
	}
}
