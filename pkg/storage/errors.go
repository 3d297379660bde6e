package storage

import (
	"errors"
	"fmt"
)

// Sentinels matched with errors.Is; the apiserver maps them to Status codes.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the object changed since the resourceVersion the
	// caller based its write on, or a precondition did not hold.
	ErrConflict = errors.New("conflict")
	// ErrExpired: the requested revision was compacted ("too old resource
	// version") or a continue token is too old.
	ErrExpired = errors.New("too old resource version")
	// ErrTooLarge: etcd refused the request as too large.
	ErrTooLarge = errors.New("request is too large")
	// ErrInvalidContinue: a continue token that cannot be decoded.
	ErrInvalidContinue = errors.New("invalid continue token")
)

// OptimisticLockMsg is Kubernetes' message for a write based on a
// resourceVersion that is no longer the object's
// (registry/generic/registry.OptimisticLockErrorMsg).
const OptimisticLockMsg = "the object has been modified; please apply your changes to the latest version and try again"

// Error carries the key and detail of a storage failure; Unwrap gives
// the sentinel.
type Error struct {
	Err    error
	Key    string
	Detail string
	// Continue, on an ErrExpired for a compacted continue token, is
	// upstream's "inconsistent continue" token: it resumes the list at
	// the same key at the latest revision.
	Continue string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s: %v: %s", e.Key, e.Err, e.Detail)
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// FutureRevisionError: a read at a revision etcd has not reached yet.
type FutureRevisionError struct {
	Requested, Current int64
}

func (e *FutureRevisionError) Error() string {
	return fmt.Sprintf("Too large resource version: %d, current: %d", e.Requested, e.Current)
}

func newErr(sentinel error, key, detail string) error {
	return &Error{Err: sentinel, Key: key, Detail: detail}
}
