// Package garbagecollector deletes objects whose owners are gone and carries
// out the foreground and orphan deletion modes, following ownerReferences
// between objects of any kind the API serves.
//
// As kube-controller-manager's collector does, it follows every resource
// that discovery lists with the verbs list, watch and delete (Events
// aside), in its preferred version, through metadata informers: the
// caches hold PartialObjectMetadata trimmed to names, UIDs, owners,
// finalizers and deletion timestamps, never whole objects. Discovery is
// asked again every DiscoveryPeriod: resources that appear (custom
// resources among them) are followed without a restart, and those that
// disappear stop being followed. An ownerReference's apiVersion and kind
// are resolved to a resource through a RESTMapper built from the same
// discovery; a kind the API does not serve never gets a dependent
// collected.
//
// A dependent whose owners are all gone (absent from the cache and from a
// live GET, or present under another UID) is deleted in the background. An
// owner that carries the foregroundDeletion finalizer has its dependents
// deleted and keeps the finalizer until those with blockOwnerDeletion are
// gone. An owner that carries the orphan finalizer has its dependents'
// references to it removed, then the finalizer.
package garbagecollector
