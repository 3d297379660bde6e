package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"

	"minik8s/pkg/api"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
	generatedopenapi "k8s.io/kubernetes/pkg/generated/openapi"
)

// OpenAPI v3: a root listing one document per group/version, and per
// group/version the real schemas of its kinds (Kubernetes' generated
// OpenAPI definitions, with their x-kubernetes-group-version-kind, which
// `ctl explain` and kubectl's schema lookups read) plus the PATCH
// operation of each kind naming the fieldValidation query parameter, so
// kubectl leaves field validation to the server (fieldValidation=Strict).
// The operations declare no request bodies: kubectl apply then builds
// strategic merge patches from its own types. /openapi/v2 is openapiv2.go.

func gvPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

func (s *Server) openAPIRoot(c *gin.Context) {
	paths := map[string]any{}
	for _, r := range s.table().Resources() {
		p := gvPath(r.Group, r.Version)
		paths[p] = map[string]string{"serverRelativeURL": "/openapi/v3/" + p}
	}
	writeJSON(c, http.StatusOK, map[string]any{"paths": paths})
}

func (s *Server) openAPIGroupVersion(c *gin.Context, gv string) bool {
	if s.customOpenAPI(c, gv) {
		return true
	}
	paths := map[string]any{}
	for _, r := range s.table().Resources() {
		if gvPath(r.Group, r.Version) != gv {
			continue
		}
		base := "/" + gv
		if r.Namespaced {
			base += "/namespaces/{namespace}"
		}
		params := []map[string]any{}
		for _, q := range []string{"dryRun", "fieldManager", "fieldValidation", "force", "pretty"} {
			params = append(params, map[string]any{"name": q, "in": "query", "schema": map[string]string{"type": "string"}, "uniqueItems": true})
		}
		paths[base+"/"+r.Plural+"/{name}"] = map[string]any{
			"patch": map[string]any{
				"operationId":                     "patch" + r.Kind,
				"parameters":                      params,
				"x-kubernetes-action":             "patch",
				"x-kubernetes-group-version-kind": map[string]string{"group": r.Group, "version": r.Version, "kind": r.Kind},
				"responses":                       map[string]any{"200": map[string]string{"description": "OK"}},
			},
		}
	}
	if len(paths) == 0 {
		return false
	}
	schemas, err := openAPISchemas()
	if err != nil {
		writeError(c, apierrors.NewInternalError(err))
		return true
	}
	writeJSON(c, http.StatusOK, map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]string{"title": "Kubernetes", "version": Version.GitVersion},
		"paths":      paths,
		"components": map[string]json.RawMessage{"schemas": schemas[gv]},
	})
	return true
}

// modelNamer is what k8s.io/api types answer: their OpenAPI model name
// ("io.k8s.api.apps.v1.Deployment").
type modelNamer interface{ OpenAPIModelName() string }

// modelNames are the OpenAPI model names of r's kind and list kind.
func modelNames(r *api.Resource) []string {
	var names []string
	objs := []runtime.Object{r.New()}
	if !r.Virtual {
		objs = append(objs, r.NewList())
	}
	for _, obj := range objs {
		if m, ok := obj.(modelNamer); ok {
			names = append(names, m.OpenAPIModelName())
		}
	}
	return names
}

// openAPISchemas holds, per group/version path ("apis/apps/v1"), the JSON
// of the closure of the schemas of its kinds. They are built together on
// the first request: Kubernetes' generated definitions are built all at
// once (about 20 MiB that are garbage afterwards), so the memory is handed
// back to the system after the build and only the documents (a few MiB)
// stay.
var openAPISchemas = sync.OnceValues(func() (map[string]json.RawMessage, error) {
	byGV := map[string][]string{}
	for _, r := range api.Resources() {
		gv := gvPath(r.Group, r.Version)
		byGV[gv] = append(byGV[gv], modelNames(r)...)
	}
	namer := openapinamer.NewDefinitionNamer(api.Scheme)
	defs := generatedopenapi.GetOpenAPIDefinitions
	var all map[string]common.OpenAPIDefinition
	cfg := &common.OpenAPIV3Config{
		Info: &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: Version.GitVersion}},
		// One build of the definitions serves every group/version.
		GetDefinitions: func(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
			if all == nil {
				all = defs(ref)
			}
			return all
		},
		GetDefinitionName: namer.GetDefinitionName,
	}
	out := map[string]json.RawMessage{}
	for gv, names := range byGV {
		schemas, err := builder3.BuildOpenAPIDefinitionsForResources(cfg, names...)
		if err != nil {
			return nil, fmt.Errorf("building the OpenAPI schemas of %s: %w", gv, err)
		}
		if out[gv], err = json.Marshal(schemas); err != nil {
			return nil, err
		}
	}
	all = nil
	debug.FreeOSMemory()
	return out, nil
})

// serveOpenAPI handles /openapi/...; false when the path is not served.
func (s *Server) serveOpenAPI(c *gin.Context, path string) bool {
	switch {
	case path == "/openapi/v2":
		s.serveOpenAPIV2(c)
		return true
	case path == "/openapi/v3" || path == "/openapi/v3/":
		s.openAPIRoot(c)
		return true
	case strings.HasPrefix(path, "/openapi/v3/"):
		return s.openAPIGroupVersion(c, strings.Trim(strings.TrimPrefix(path, "/openapi/v3/"), "/"))
	}
	return false
}

// customOpenAPI serves the document of a custom resources' group/version:
// each definition's, as kube-apiserver builds it, merged. It reports
// false when gv has no custom resources.
func (s *Server) customOpenAPI(c *gin.Context, gv string) bool {
	var doc map[string]any
	for _, r := range s.table().Resources() {
		if r.CRD == nil || gvPath(r.Group, r.Version) != gv {
			continue
		}
		data, err := r.CRD.OpenAPI()
		if err != nil {
			writeError(c, apierrors.NewInternalError(fmt.Errorf("the OpenAPI of %s: %w", r.GroupVersionResource(), err)))
			return true
		}
		var one map[string]any
		if err := json.Unmarshal(data, &one); err != nil {
			writeError(c, apierrors.NewInternalError(err))
			return true
		}
		if doc == nil {
			doc = one
			continue
		}
		mergeInto(doc, one, "paths")
		if comps, ok := one["components"].(map[string]any); ok {
			if dc, ok := doc["components"].(map[string]any); ok {
				mergeInto(dc, comps, "schemas")
			}
		}
	}
	if doc == nil {
		return false
	}
	writeJSON(c, http.StatusOK, doc)
	return true
}

// mergeInto adds src[key]'s entries to dst[key] (both JSON objects).
func mergeInto(dst, src map[string]any, key string) {
	d, ok := dst[key].(map[string]any)
	if !ok {
		d = map[string]any{}
		dst[key] = d
	}
	if s, ok := src[key].(map[string]any); ok {
		for k, v := range s {
			d[k] = v
		}
	}
}
