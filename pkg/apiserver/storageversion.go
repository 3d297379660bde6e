package apiserver

import (
	"fmt"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// A request for an entry that serves another entry's objects in a second
// version (api.Resource.Storage: events.k8s.io/v1 Events, autoscaling/v1
// HorizontalPodAutoscalers) runs as a request for the storage entry
// (call.r is api.Resource.Stored()) with conversions at the edges: bodies
// are decoded and patched in the served version and converted to the
// storage version; every object answered is converted back. The gin
// context carries the served entry so that the writers in encode.go
// convert without each handler knowing.

// ctxServed holds the *api.Resource a request was made for when it is
// stored through another entry.
const ctxServed = "minik8s.served"

// ctxCustom is true for requests on custom resources.
const ctxCustom = "minik8s.custom"

func servedOf(c *gin.Context) *api.Resource {
	if c == nil || c.Keys == nil {
		return nil
	}
	r, _ := c.Keys[ctxServed].(*api.Resource)
	return r
}

// toServed converts a stored object to the version the request was made
// in; obj itself when the two are one.
func toServed(c *gin.Context, obj runtime.Object) (runtime.Object, error) {
	r := servedOf(c)
	if r == nil || obj == nil {
		return obj, nil
	}
	out, err := r.FromStorage(obj)
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	return out, nil
}

// wire is the entry whose version is on the wire for k.
func (k *call) wire() *api.Resource {
	if k.served != nil {
		return k.served
	}
	return k.r
}

// toStorage converts a decoded object of the served version to the
// storage version.
func (k *call) toStorage(obj runtime.Object) (runtime.Object, error) {
	if k.served == nil {
		return obj, nil
	}
	out, err := k.served.ToStorage(obj)
	if err != nil && k.served.CRD != nil {
		// A conversion webhook's failure, which kube-apiserver answers
		// with a 500.
		return nil, apierrors.NewInternalError(err)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the %s could not be converted to %s: %v", k.served.GroupVersionKind(), k.r.GroupVersion(), err))
	}
	return out, nil
}

// decodeBody decodes the request body in the served version and gives
// it in the storage version.
func (s *Server) decodeBody(k *call) (runtime.Object, error) {
	w := k.wire()
	obj, err := s.decodeRequest(k.c, w.GroupVersionKind(), w.New)
	if err != nil {
		return nil, err
	}
	return k.toStorage(obj)
}

// storedVersion wraps an update of k's object so that it sees the stored
// object in the storage version: a custom resource stored before its
// definition's storage version changed is converted first (kube-apiserver
// decodes every stored object into the version it works in).
func storedVersion(k *call, tryUpdate storage.UpdateFunc) storage.UpdateFunc {
	if k.r.CRD == nil || !k.r.CRD.MultiVersion {
		return tryUpdate
	}
	return func(cur runtime.Object) (runtime.Object, error) {
		if u, ok := cur.(*unstructured.Unstructured); ok && u.GetAPIVersion() != k.r.GroupVersion().String() {
			conv, err := k.r.ToStorage(cur)
			if err != nil {
				return nil, apierrors.NewInternalError(err)
			}
			cur = conv
		}
		return tryUpdate(cur)
	}
}
