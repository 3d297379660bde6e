package ctl

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/validation"
	"sigs.k8s.io/yaml"
)

// factory is kubectl's factory with a validator that fits minik8s.
type factory struct {
	cmdutil.Factory
}

// Validator keeps kubectl's validation (server-side through fieldValidation
// where the OpenAPI says so) for the kinds the server serves, validates a
// List item by item, and leaves kinds the server does not serve to the
// resource mapping, which names them. kubectl's own validator would fall
// back to the OpenAPI v2 document for both and fail with "failed to
// download openapi" instead.
func (f factory) Validator(directive string) (validation.Schema, error) {
	schema, err := f.Factory.Validator(directive)
	if err != nil {
		return nil, err
	}
	return servedKinds{next: schema, mapper: f.ToRESTMapper}, nil
}

type servedKinds struct {
	next   validation.Schema
	mapper func() (meta.RESTMapper, error)
}

func (s servedKinds) ValidateBytes(data []byte) error {
	var obj unstructured.Unstructured
	if err := yaml.Unmarshal(data, &obj.Object); err != nil || obj.Object == nil {
		return s.next.ValidateBytes(data) // kubectl's own parse error
	}
	if obj.IsList() {
		items, _, _ := unstructured.NestedSlice(obj.Object, "items")
		var errs []error
		for _, item := range items {
			b, err := json.Marshal(item)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			errs = append(errs, s.ValidateBytes(b))
		}
		return utilerrors.NewAggregate(errs)
	}
	gvk := schema.FromAPIVersionAndKind(obj.GetAPIVersion(), obj.GetKind())
	if gvk.Kind != "" && gvk.Version != "" {
		mapper, err := s.mapper()
		if err != nil {
			return err
		}
		if _, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version); meta.IsNoMatchError(err) {
			return nil
		}
	}
	return s.next.ValidateBytes(data)
}
