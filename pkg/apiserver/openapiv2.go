package apiserver

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"sync"

	"github.com/gin-gonic/gin"
	crdopenapi "k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/validation/spec"
	generatedopenapi "k8s.io/kubernetes/pkg/generated/openapi"

	"minik8s/pkg/api"
)

// /openapi/v2: one swagger 2.0 document of every served kind, built-in and
// custom, in JSON or protobuf as the client asks
// (application/com.github.proto-openapi.spec.v2.v1.0+protobuf), served by
// kube-openapi's handler as kube-apiserver serves it (ETags, gzip).
// kubectl prefers /openapi/v3; older clients, Helm's schema validation and
// conformance read v2. Built on the first request; the custom resources'
// definitions are merged in again when the served table changes.
type openAPIV2 struct {
	once sync.Once
	err  error
	base *spec.Swagger
	svc  *handler.OpenAPIService
	mux  *http.ServeMux

	mu    sync.Mutex
	table *api.Table // what svc's document was made from
}

// buildOpenAPIV2 is the built-in kinds' document.
func buildOpenAPIV2() (*spec.Swagger, error) {
	var names []string
	seen := map[string]bool{}
	for _, r := range api.Resources() {
		for _, name := range modelNames(r) {
			if !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
		}
	}
	cfg := &common.Config{
		Info:              &spec.Info{InfoProps: spec.InfoProps{Title: "Kubernetes", Version: Version.GitVersion}},
		GetDefinitions:    generatedopenapi.GetOpenAPIDefinitions,
		GetDefinitionName: openapinamer.NewDefinitionNamer(api.Scheme).GetDefinitionName,
	}
	sw, err := builder.BuildOpenAPIDefinitionsForResources(cfg, names...)
	if err != nil {
		return nil, fmt.Errorf("building the OpenAPI v2 definitions: %w", err)
	}
	// The generated definitions are garbage now; hand the memory back.
	debug.FreeOSMemory()
	return sw, nil
}

func (s *Server) serveOpenAPIV2(c *gin.Context) {
	o := &s.openapiV2
	o.once.Do(func() {
		if o.base, o.err = buildOpenAPIV2(); o.err != nil {
			return
		}
		o.svc = handler.NewOpenAPIService(o.base)
		o.mux = http.NewServeMux()
		o.svc.RegisterOpenAPIVersionedService("/openapi/v2", o.mux)
		o.table = nil
	})
	if o.err != nil {
		writeError(c, apierrors.NewInternalError(o.err))
		return
	}
	o.mu.Lock()
	if t := s.table(); o.table != t || t == nil {
		var crds []*spec.Swagger
		for _, r := range t.Resources() {
			if r.CRD == nil || r.CRD.OpenAPIV2 == nil {
				continue
			}
			sw, err := r.CRD.OpenAPIV2()
			if err != nil {
				o.mu.Unlock()
				writeError(c, apierrors.NewInternalError(fmt.Errorf("the OpenAPI of %s: %w", r.GroupVersionResource(), err)))
				return
			}
			crds = append(crds, sw)
		}
		merged := o.base
		if len(crds) > 0 {
			var err error
			if merged, err = crdopenapi.MergeSpecs(o.base, crds...); err != nil {
				o.mu.Unlock()
				writeError(c, apierrors.NewInternalError(err))
				return
			}
		}
		if err := o.svc.UpdateSpec(merged); err != nil {
			o.mu.Unlock()
			writeError(c, apierrors.NewInternalError(err))
			return
		}
		o.table = t
	}
	o.mu.Unlock()
	o.mux.ServeHTTP(c.Writer, c.Request)
}
