package apiserver

import (
	"net/http"
	"strings"

	"minik8s/pkg/api"

	"github.com/gin-gonic/gin"
)

// OpenAPI: this server publishes no schemas. It serves just enough of
// /openapi/v3 for kubectl: a root listing one document per group/version,
// and per group/version the PATCH operations of each kind, naming the
// fieldValidation query parameter. kubectl's default validation then
// leaves the checking to the server (fieldValidation=Strict) instead of
// failing to download schemas; with no patch request body declared,
// kubectl apply builds strategic merge patches from its own types.
// /openapi/v2 is 404 (kubectl only falls back to it when v3 fails).

func gvPath(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

func (s *Server) openAPIRoot(c *gin.Context) {
	paths := map[string]any{}
	for _, r := range api.Resources() {
		p := gvPath(r.Group, r.Version)
		paths[p] = map[string]string{"serverRelativeURL": "/openapi/v3/" + p}
	}
	writeJSON(c, http.StatusOK, map[string]any{"paths": paths})
}

func (s *Server) openAPIGroupVersion(c *gin.Context, gv string) bool {
	paths := map[string]any{}
	for _, r := range api.Resources() {
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
	writeJSON(c, http.StatusOK, map[string]any{
		"openapi": "3.0.0",
		"info":    map[string]string{"title": "Kubernetes", "version": Version.GitVersion},
		"paths":   paths,
	})
	return true
}

// serveOpenAPI handles /openapi/...; false when the path is not served.
func (s *Server) serveOpenAPI(c *gin.Context, path string) bool {
	switch {
	case path == "/openapi/v3" || path == "/openapi/v3/":
		s.openAPIRoot(c)
		return true
	case strings.HasPrefix(path, "/openapi/v3/"):
		return s.openAPIGroupVersion(c, strings.Trim(strings.TrimPrefix(path, "/openapi/v3/"), "/"))
	}
	return false
}
