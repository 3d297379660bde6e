// Package pki makes and keeps a cluster's certificates: the cluster CA
// (made once, at first start), the apiserver's serving certificate for
// every name and address it is reached by, client certificates whose
// subject is the identity (CN = user, O = groups, as Kubernetes' x509
// authenticator reads them), and the kubeconfigs that carry them.
//
// Keys are ECDSA P-256 (quick to make, accepted by every Kubernetes
// client); encoding is k8s.io/client-go/util/cert and keyutil's.
package pki
