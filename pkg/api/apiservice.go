package api

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration"
	apiregistrationinstall "k8s.io/kube-aggregator/pkg/apis/apiregistration/install"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/registry/apiservice"
	apiserviceetcd "k8s.io/kube-aggregator/pkg/registry/apiservice/etcd"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
)

// APIServices (apiregistration.k8s.io/v1) are stored with kube-aggregator's
// own strategy: its validation, and local APIServices (no spec.service)
// made Available on create. The server registers its own groups as local
// APIServices at start; it does not proxy to extension apiservers.
func init() {
	apiregistrationinstall.Install(legacyscheme.Scheme)
	utilruntime.Must(apiregistrationv1.AddToScheme(Scheme))
	r := builtin{
		gv: apiregistrationv1.SchemeGroupVersion, kind: "APIService", categories: apiExtensions,
		newObj:   func() runtime.Object { return &apiregistrationv1.APIService{} },
		newList:  func() runtime.Object { return &apiregistrationv1.APIServiceList{} },
		strategy: apiservice.NewStrategy(legacyscheme.Scheme),
		status:   apiservice.NewStatusStrategy(legacyscheme.Scheme),
		getAttrs: apiservice.GetAttrs,
	}.resource()
	r.Strategy = apiServiceStrategy{r.Strategy.(*upstream)}
	resources = append(resources, r)
}

// apiServiceStrategy is upstream's, with kube-aggregator's table (Name,
// Service, Available, Age: what kubectl get apiservices prints).
type apiServiceStrategy struct{ *upstream }

func (s apiServiceStrategy) Table(objs []runtime.Object, opts TableOptions) (*metav1.Table, error) {
	list := &apiregistration.APIServiceList{}
	for _, obj := range objs {
		in, err := s.toInternal(obj)
		if err != nil {
			return nil, err
		}
		list.Items = append(list.Items, *in.(*apiregistration.APIService))
	}
	// The table convertor reads nothing of its storage.
	t, err := (&apiserviceetcd.REST{}).ConvertToTable(context.Background(), list, nil)
	if err != nil {
		return nil, err
	}
	if opts.NoHeaders {
		t.ColumnDefinitions = nil
	}
	return t, nil
}
