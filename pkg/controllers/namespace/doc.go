// Package namespace finishes the deletion of namespaces: once a namespace
// has a deletionTimestamp it deletes every namespaced object in it (every
// resource the API's discovery lists), waits until none is left, and then
// empties spec.finalizers through namespaces/{name}/finalize so the
// apiserver can remove the namespace.
package namespace
