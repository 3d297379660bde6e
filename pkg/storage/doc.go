// Package storage keeps Kubernetes objects in etcd: keys
// /registry/{resource}/{namespace}/{name} (cluster-scoped objects drop the
// namespace), JSON values, resourceVersion = the etcd mod revision. The
// values of the resources WithTransformers names pass through a
// value.Transformer (kube-apiserver's encryption at rest) both ways.
//
// Create is a transaction on "key absent", updates are transactions on the
// mod revision, lists report the header revision and page with continue
// tokens, and watches resume at a revision + 1. Etcd runs an embedded etcd
// server for the apiserver and the tests.
package storage
