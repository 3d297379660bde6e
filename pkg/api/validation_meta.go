package api

import (
	"sort"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var metadataPath = field.NewPath("metadata")

// validateMeta checks an object's metadata on create: name (by nameFn),
// namespace present exactly for namespaced kinds, labels, annotations,
// finalizers, owner references.
func validateMeta(m *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	return apivalidation.ValidateObjectMeta(m, namespaced, nameFn, metadataPath)
}

// validateMetaUpdate checks metadata on update: name, namespace, uid and
// creationTimestamp unchanged, labels, annotations, owner references and
// finalizers valid.
func validateMetaUpdate(m, old *metav1.ObjectMeta) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(m, old, metadataPath)
	return append(errs, apivalidation.ValidateFinalizers(m.Finalizers, metadataPath.Child("finalizers"))...)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
