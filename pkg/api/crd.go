package api

import (
	"k8s.io/apiextensions-apiserver/pkg/apihelpers"
	apiextensionsinstall "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresourcedefinition"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// CustomResourceDefinitions are served with apiextensions-apiserver's own
// strategy (the same validation of names, versions and structural
// schemas kube-apiserver applies), through the same internal-version
// adapter as the other upstream kinds.
func init() {
	apiextensionsinstall.Install(legacyscheme.Scheme)
	utilruntime.Must(apiextensionsv1.AddToScheme(Scheme))
	crd := builtin{
		gv: apiextensionsv1.SchemeGroupVersion, kind: "CustomResourceDefinition",
		short: []string{"crd", "crds"}, categories: apiExtensions,
		newObj:   func() runtime.Object { return &apiextensionsv1.CustomResourceDefinition{} },
		newList:  func() runtime.Object { return &apiextensionsv1.CustomResourceDefinitionList{} },
		strategy: customresourcedefinition.NewStrategy(legacyscheme.Scheme),
		status:   customresourcedefinition.NewStatusStrategy(legacyscheme.Scheme),
		getAttrs: customresourcedefinition.GetAttrs,
	}.resource()
	crd.Strategy = crdStrategy{crd.Strategy.(*upstream)}
	resources = append(resources, crd)
}

// crdStrategy is upstream's CRD strategy with what kube-apiserver's CRD
// REST storage adds on delete: the first DELETE puts the
// customresourcecleanup finalizer and the Terminating condition on the
// definition, and the server's CRD finalizer deletes every custom
// resource before the definition goes.
type crdStrategy struct{ *upstream }

func (crdStrategy) BeforeDelete(obj runtime.Object, _ *metav1.DeleteOptions, _ metav1.Time) (mark, done bool) {
	crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
	if !ok || crd.DeletionTimestamp != nil {
		return false, false
	}
	if !apihelpers.CRDHasFinalizer(crd, apiextensionsv1.CustomResourceCleanupFinalizer) {
		crd.Finalizers = append(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer)
	}
	apihelpers.SetCRDCondition(crd, apiextensionsv1.CustomResourceDefinitionCondition{
		Type:    apiextensionsv1.Terminating,
		Status:  apiextensionsv1.ConditionTrue,
		Reason:  "InstanceDeletionPending",
		Message: "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
	})
	// With a finalizer on it the server marks it deleted and writes it back.
	return false, false
}
