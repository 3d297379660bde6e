// Package resourcequota is Kubernetes' ResourceQuota controller
// (resourcequota-controller): it keeps each ResourceQuota's status.hard
// equal to spec.hard and computes status.used from the objects of its
// namespace, so that the apiserver's quota admission, which charges
// creates to status.used, gets back what deleted objects and finished pods
// free.
package resourcequota
