package apiserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"minik8s/pkg/api"

	"github.com/gin-gonic/gin"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// aggregatedContentType is the media type of aggregated discovery, which
// client-go and kubectl ask for first: every group, version and resource
// in one answer.
const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated tells whether the Accept header asks for aggregated
// discovery (apidiscovery.k8s.io/v2 APIGroupDiscoveryList) in JSON.
func wantsAggregated(c *gin.Context) bool {
	for _, part := range strings.Split(c.GetHeader("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != "application/json" {
			continue
		}
		if params["g"] == "apidiscovery.k8s.io" && params["v"] == "v2" && params["as"] == "APIGroupDiscoveryList" {
			return true
		}
	}
	return false
}

// aggregatedDiscovery serves /api (core) or /apis (the named groups) as
// one APIGroupDiscoveryList, in table order.
func aggregatedDiscovery(c *gin.Context, resources []*api.Resource, core bool) {
	list := &apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	groupIdx := map[string]int{}
	for _, r := range resources {
		if (r.Group == "") != core {
			continue
		}
		gi, ok := groupIdx[r.Group]
		if !ok {
			gi = len(list.Items)
			groupIdx[r.Group] = gi
			list.Items = append(list.Items, apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: r.Group}})
		}
		g := &list.Items[gi]
		vi := -1
		for i := range g.Versions {
			if g.Versions[i].Version == r.Version {
				vi = i
			}
		}
		if vi < 0 {
			vi = len(g.Versions)
			g.Versions = append(g.Versions, apidiscoveryv2.APIVersionDiscovery{Version: r.Version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent})
		}
		g.Versions[vi].Resources = append(g.Versions[vi].Resources, resourceDiscovery(r))
	}
	data, err := json.Marshal(list)
	if err != nil {
		writeError(c, err)
		return
	}
	c.Header("Vary", "Accept")
	c.Data(http.StatusOK, aggregatedContentType, data)
}

// resourceDiscovery is r's entry, its subresources included, from the same
// APIResources the per-version lists serve.
func resourceDiscovery(r *api.Resource) apidiscoveryv2.APIResourceDiscovery {
	entries := r.APIResources()
	scope := apidiscoveryv2.ScopeCluster
	if r.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	main := entries[0]
	out := apidiscoveryv2.APIResourceDiscovery{
		Resource:         main.Name,
		ResponseKind:     &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
		Scope:            scope,
		SingularResource: main.SingularName,
		Verbs:            main.Verbs,
		ShortNames:       main.ShortNames,
		Categories:       main.Categories,
	}
	for _, sub := range entries[1:] {
		kind := &metav1.GroupVersionKind{Group: sub.Group, Version: sub.Version, Kind: sub.Kind}
		if sub.Group == "" && sub.Version == "" {
			kind.Group, kind.Version = r.Group, r.Version
		}
		out.Subresources = append(out.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  strings.TrimPrefix(sub.Name, r.Plural+"/"),
			ResponseKind: kind,
			Verbs:        sub.Verbs,
		})
	}
	return out
}
