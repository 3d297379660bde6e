// Package namespace finishes the deletion of namespaces with
// kube-controller-manager's own deleter (k8s.io/kubernetes
// pkg/controller/namespace/deletion): once a namespace has a
// deletionTimestamp it deletes its pods, and only when no pod is left every
// other namespaced object (each resource discovery lists, by
// deletecollection or one by one), writes the namespace's conditions
// (NamespaceDeletionDiscoveryFailure, NamespaceDeletionContentFailure,
// NamespaceContentRemaining, NamespaceFinalizersRemaining, …) as it goes,
// and when nothing is left removes the kubernetes finalizer through
// namespaces/{name}/finalize so the apiserver can remove the namespace.
package namespace
