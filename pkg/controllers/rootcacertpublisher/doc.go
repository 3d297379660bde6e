// Package rootcacertpublisher publishes the cluster's root CA in every
// active namespace, as kube-controller-manager's
// root-ca-certificate-publisher-controller does: a ConfigMap
// "kube-root-ca.crt" whose key "ca.crt" holds the CA bundle that verifies
// the apiserver, annotated with upstream's "kubernetes.io/description". It
// creates the ConfigMap when a namespace appears or the ConfigMap is
// deleted, puts its data and annotation back when they are changed, and
// leaves namespaces that are not Active alone.
//
// The bundle is the controller-manager's --root-ca-file (upstream's flag)
// or, without it, the CA the controller-manager's own kubeconfig trusts
// for the apiserver. While minik8s serves its API over plain HTTP there is
// neither, and the ConfigMap holds an empty placeholder, ca.crt: "", so
// that pods and manifests that mount it find it; the bundle fills in once
// the apiserver serves TLS and the controller-manager is given its CA.
package rootcacertpublisher
