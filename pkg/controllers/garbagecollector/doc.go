// Package garbagecollector deletes objects whose owners are gone and carries
// out the foreground and orphan deletion modes, following ownerReferences
// between the kinds minik8s serves (Deployment → ReplicaSet → Pod, Service →
// EndpointSlice).
//
// A dependent whose owners are all gone (absent from the cache and from a
// live GET, or present under another UID) is deleted in the background. An
// owner that carries the foregroundDeletion finalizer has its dependents
// deleted and keeps the finalizer until those with blockOwnerDeletion are
// gone. An owner that carries the orphan finalizer has its dependents'
// references to it removed, then the finalizer.
package garbagecollector
