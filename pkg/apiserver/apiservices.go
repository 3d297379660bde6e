package apiserver

import (
	"context"
	"fmt"

	"minik8s/pkg/api"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/helper"
)

// apiServicePriority is an APIService's spec.groupPriorityMinimum and
// spec.versionPriority.
type apiServicePriority struct{ group, version int32 }

// apiVersionPriorities are kube-apiserver's (cmd/kube-apiserver/app
// aggregator.go merged with pkg/controlplane/apiserver
// DefaultGenericAPIServicePriorities, v1.37.2) for the groups this server
// serves. As there, a group/version not listed gets no APIService.
var apiVersionPriorities = map[schema.GroupVersion]apiServicePriority{
	{Group: "", Version: "v1"}:                             {18000, 1},
	{Group: "apps", Version: "v1"}:                         {17800, 15},
	{Group: "events.k8s.io", Version: "v1"}:                {17750, 15},
	{Group: "authentication.k8s.io", Version: "v1"}:        {17700, 15},
	{Group: "authorization.k8s.io", Version: "v1"}:         {17600, 15},
	{Group: "autoscaling", Version: "v1"}:                  {17500, 15},
	{Group: "autoscaling", Version: "v2"}:                  {17500, 30},
	{Group: "batch", Version: "v1"}:                        {17400, 15},
	{Group: "certificates.k8s.io", Version: "v1"}:          {17300, 15},
	{Group: "networking.k8s.io", Version: "v1"}:            {17200, 15},
	{Group: "policy", Version: "v1"}:                       {17100, 15},
	{Group: "rbac.authorization.k8s.io", Version: "v1"}:    {17000, 15},
	{Group: "storage.k8s.io", Version: "v1"}:               {16800, 15},
	{Group: "apiextensions.k8s.io", Version: "v1"}:         {16700, 15},
	{Group: "admissionregistration.k8s.io", Version: "v1"}: {16700, 15},
	{Group: "scheduling.k8s.io", Version: "v1"}:            {16600, 15},
	{Group: "coordination.k8s.io", Version: "v1"}:          {16500, 15},
	{Group: "node.k8s.io", Version: "v1"}:                  {16300, 15},
	{Group: "discovery.k8s.io", Version: "v1"}:             {16200, 15},
	{Group: "resource.k8s.io", Version: "v1"}:              {16200, 21},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1"}: {16100, 21},
	{Group: "storagemigration.k8s.io", Version: "v1"}:      {15800, 15},
}

// autoRegisterManagedLabel marks the APIServices the server keeps in line
// with what it serves, kube-aggregator's autoregister label.
const autoRegisterManagedLabel = "kube-aggregator.kubernetes.io/automanaged"

// localAPIServices are the APIServices of the built-in group/versions in
// resources: local (no spec.service), named "<version>.<group>", as
// kube-apiserver's autoregister controller makes them at start.
func localAPIServices(resources []*api.Resource) []*apiregistrationv1.APIService {
	var out []*apiregistrationv1.APIService
	seen := map[schema.GroupVersion]bool{}
	for _, r := range resources {
		gv := schema.GroupVersion{Group: r.Group, Version: r.Version}
		p, ok := apiVersionPriorities[gv]
		if seen[gv] || !ok || r.CRD != nil {
			continue
		}
		seen[gv] = true
		out = append(out, &apiregistrationv1.APIService{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Version + "." + gv.Group, Labels: map[string]string{autoRegisterManagedLabel: "onstart"}},
			Spec: apiregistrationv1.APIServiceSpec{
				Group: gv.Group, Version: gv.Version,
				GroupPriorityMinimum: p.group, VersionPriority: p.version,
			},
		})
	}
	return out
}

// registerLocalAPIServices creates or corrects the APIServices of the
// server's own groups, each Available ("Local APIServices are always
// available"), as the autoregister and availability controllers of
// kube-apiserver do. Aggregation itself (proxying an APIService with a
// spec.service to its extension apiserver) is not served.
func (s *Server) registerLocalAPIServices(ctx context.Context) error {
	for _, want := range localAPIServices(api.Resources()) {
		err := s.upsert(ctx, apiregistrationv1.GroupName, "v1", "apiservices", "", want, func(cur runtime.Object) runtime.Object {
			c := cur.(*apiregistrationv1.APIService)
			if c.Labels == nil {
				c.Labels = map[string]string{}
			}
			c.Labels[autoRegisterManagedLabel] = want.Labels[autoRegisterManagedLabel]
			c.Spec = want.Spec
			helper.SetAPIServiceCondition(c, helper.NewLocalAvailableAPIServiceCondition())
			return c
		})
		if err != nil {
			return fmt.Errorf("registering the APIService %s: %w", want.Name, err)
		}
	}
	return nil
}
