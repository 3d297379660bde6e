package apiserver

import (
	"context"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/warning"
)

// strategyContext is a request's context as Kubernetes' strategies expect
// it: the request info (declarative validation reads it), the namespace, a recorder that turns their warnings into Warning
// headers, a way to read namespaces, and the server's authorizer.
func (s *Server) strategyContext(ctx context.Context, info *request.RequestInfo, ns string, c *gin.Context) context.Context {
	ctx = request.WithRequestInfo(request.WithNamespace(ctx, ns), info)
	ctx = warning.WithWarningRecorder(ctx, headerWarnings{c})
	ctx = api.WithAuthorizer(ctx, s.authorizer)
	return api.WithNamespaceGetter(ctx, func(ctx context.Context, name string) (*corev1.Namespace, error) {
		var ns corev1.Namespace
		if err := s.store.Get(ctx, storage.Key("namespaces", "", name), &ns); err != nil {
			return nil, storageError(nsResource(), name, err)
		}
		return &ns, nil
	})
}

// headerWarnings records a strategy's warnings as Warning headers.
type headerWarnings struct{ c *gin.Context }

func (h headerWarnings) AddWarning(_, text string) {
	if text != "" {
		addWarning(h.c, text)
	}
}
