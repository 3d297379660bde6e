package apiserver

import (
	"errors"
	"fmt"
	"net/http"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// maxBodyBytes is the largest request body accepted (Kubernetes' limit).
const maxBodyBytes = 3 << 20

// storageError turns a storage failure about (r, name) into a Kubernetes
// API error.
func storageError(r *api.Resource, name string, err error) error {
	if err == nil {
		return nil
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return err
	}
	gr := schema.GroupResource{Group: r.Group, Resource: r.Plural}
	var detail string
	var serr *storage.Error
	if errors.As(err, &serr) {
		detail = serr.Detail
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrAlreadyExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		if detail == "" {
			detail = storage.OptimisticLockMsg
		}
		return apierrors.NewConflict(gr, name, errors.New(detail))
	case errors.Is(err, storage.ErrExpired):
		if detail == "" {
			detail = "too old resource version"
		}
		expired := apierrors.NewResourceExpired(detail)
		if serr != nil {
			expired.ErrStatus.ListMeta.Continue = serr.Continue
		}
		return expired
	case errors.Is(err, storage.ErrTooLarge):
		return apierrors.NewRequestEntityTooLargeError("the request is too large: " + detail)
	case errors.Is(err, storage.ErrInvalidContinue):
		return apierrors.NewBadRequest("invalid continue token: " + detail)
	}
	var future *storage.FutureRevisionError
	if errors.As(err, &future) {
		return tooLargeResourceVersion(future.Requested, future.Current)
	}
	return apierrors.NewInternalError(err)
}

// tooLargeResourceVersion is Kubernetes' answer to a read at a
// resourceVersion the server has not reached: 504 with a retry hint and
// the ResourceVersionTooLarge cause client-go's reflector looks for.
func tooLargeResourceVersion(requested, current int64) error {
	err := apierrors.NewTimeoutError(fmt.Sprintf("Too large resource version: %d, current: %d", requested, current), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// toStatus gives the Status body for err.
func toStatus(err error) *metav1.Status {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		st.Kind, st.APIVersion = "Status", "v1"
		return &st
	}
	st := apierrors.NewInternalError(err).ErrStatus
	st.Kind, st.APIVersion = "Status", "v1"
	return &st
}

func notFoundPath(path string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: fmt.Sprintf("the server could not find the requested resource (%s)", path),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeUnexpectedServerResponse, Message: "404 page not found"}}},
	}}
}

func unsupportedMediaType(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusUnsupportedMediaType, Reason: metav1.StatusReasonUnsupportedMediaType,
		Message: msg,
	}}
}
