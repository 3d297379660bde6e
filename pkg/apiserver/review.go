package apiserver

import (
	"context"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// A review answers a create of a virtual resource (api.Resource.Virtual):
// it reads the decoded object and returns the answered one, never
// storing anything. The request's user is in ctx.
type review func(ctx context.Context, obj runtime.Object) (runtime.Object, error)

// reviews are the answers of the virtual resources, by group and plural.
func (s *Server) reviews() map[schema.GroupResource]review {
	return map[schema.GroupResource]review{
		{Group: authenticationv1.GroupName, Resource: "selfsubjectreviews"}: selfSubjectReview,
		{Group: authenticationv1.GroupName, Resource: "tokenreviews"}:       s.tokenReview,
	}
}

func (s *Server) serveVirtual(k *call) {
	if k.info.Verb != "create" || k.info.Subresource != "" || k.name != "" {
		writeError(k.c, apierrors.NewMethodNotSupported(k.gr(), k.info.Verb))
		return
	}
	answer, ok := s.reviews()[k.gr()]
	if !ok {
		writeError(k.c, apierrors.NewMethodNotSupported(k.gr(), k.info.Verb))
		return
	}
	obj, err := s.decodeRequest(k.c, k.r.GroupVersionKind(), k.r.New)
	if err != nil {
		writeError(k.c, err)
		return
	}
	out, err := answer(k.ctx(), obj)
	if err != nil {
		writeError(k.c, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(k.r.GroupVersionKind())
	writeObject(k.c, http.StatusCreated, k.r, out)
}

// selfSubjectReview tells the requester who the server takes them for
// (`ctl auth whoami`).
func selfSubjectReview(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
	u, ok := request.UserFrom(ctx)
	if !ok {
		return nil, apierrors.NewInternalError(errNoUser)
	}
	out := obj.(*authenticationv1.SelfSubjectReview)
	out.Status.UserInfo = authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if extra := u.GetExtra(); len(extra) > 0 {
		out.Status.UserInfo.Extra = map[string]authenticationv1.ExtraValue{}
		for k, v := range extra {
			out.Status.UserInfo.Extra[k] = v
		}
	}
	return out, nil
}
