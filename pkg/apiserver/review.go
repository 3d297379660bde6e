package apiserver

import (
	"context"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	authorizationapi "k8s.io/kubernetes/pkg/apis/authorization"
	"k8s.io/kubernetes/pkg/registry/authorization/localsubjectaccessreview"
	"k8s.io/kubernetes/pkg/registry/authorization/selfsubjectaccessreview"
	"k8s.io/kubernetes/pkg/registry/authorization/selfsubjectrulesreview"
	"k8s.io/kubernetes/pkg/registry/authorization/subjectaccessreview"
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
		// Upstream's answers (pkg/registry/authorization), on the
		// internal types they are written for.
		{Group: authorizationv1.GroupName, Resource: "subjectaccessreviews"}: upstreamReview(
			subjectaccessreview.NewREST(s.authorizer, legacyscheme.Scheme),
			func() runtime.Object { return &authorizationapi.SubjectAccessReview{} },
			func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }),
		{Group: authorizationv1.GroupName, Resource: "selfsubjectaccessreviews"}: upstreamReview(
			selfsubjectaccessreview.NewREST(s.authorizer, legacyscheme.Scheme),
			func() runtime.Object { return &authorizationapi.SelfSubjectAccessReview{} },
			func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }),
		{Group: authorizationv1.GroupName, Resource: "localsubjectaccessreviews"}: upstreamReview(
			localsubjectaccessreview.NewREST(s.authorizer, legacyscheme.Scheme),
			func() runtime.Object { return &authorizationapi.LocalSubjectAccessReview{} },
			func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }),
		{Group: authorizationv1.GroupName, Resource: "selfsubjectrulesreviews"}: upstreamReview(
			selfsubjectrulesreview.NewREST(s.rules),
			func() runtime.Object { return &authorizationapi.SelfSubjectRulesReview{} },
			func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }),
	}
}

// creater is what upstream's review REST objects provide.
type creater interface {
	Create(ctx context.Context, obj runtime.Object, validate rest.ValidateObjectFunc, opts *metav1.CreateOptions) (runtime.Object, error)
}

// upstreamReview answers with an upstream review REST: the request's
// object converted to the internal version, answered, and converted
// back, as kube-apiserver's handlers convert.
func upstreamReview(r creater, internal, external func() runtime.Object) review {
	return func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
		in := internal()
		if err := legacyscheme.Scheme.Convert(obj, in, nil); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		answer, err := r.Create(ctx, in, nil, &metav1.CreateOptions{})
		if err != nil {
			return nil, err
		}
		out := external()
		if err := legacyscheme.Scheme.Convert(answer, out, nil); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		return out, nil
	}
}

func (s *Server) serveVirtual(k *call) {
	if k.info.Verb != "create" || k.info.Subresource != "" || k.name != "" {
		writeError(k.c, apierrors.NewMethodNotSupported(k.gr(), k.info.Verb))
		return
	}
	answer, ok := s.reviewers[k.gr()]
	if !ok {
		writeError(k.c, apierrors.NewMethodNotSupported(k.gr(), k.info.Verb))
		return
	}
	// Negotiated before the body is read, as upstream does.
	mode, err := withoutTable(k.c)
	if err != nil {
		writeError(k.c, err)
		return
	}
	obj, err := s.decodeRequest(k.c, k.r.GroupVersionKind(), k.r.New)
	if err != nil {
		writeError(k.c, err)
		return
	}
	out, err := answer(request.WithNamespace(k.ctx(), k.ns), obj)
	if err != nil {
		writeError(k.c, err)
		return
	}
	out.GetObjectKind().SetGroupVersionKind(k.r.GroupVersionKind())
	writeObjectAs(k.c, http.StatusCreated, k.r, out, mode)
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
