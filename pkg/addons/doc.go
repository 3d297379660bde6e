// Package addons holds the cluster add-ons minik8s installs itself, as
// Kubernetes objects built in Go, and applies them idempotently.
//
// DNS is the cluster DNS of every Kubernetes distribution: CoreDNS with
// its kubernetes plugin, as a Deployment in kube-system behind the
// kube-dns Service at a fixed ClusterIP, with upstream's manifest
// (kubernetes cluster/addons/dns/coredns) as the model: the same names,
// labels, RBAC rules, probes and Corefile.
//
// Apply follows the addon manager's modes, named by each object's
// addonmanager.kubernetes.io/mode label: an EnsureExists object (the
// Corefile's ConfigMap, the ClusterRoleBinding) is created when missing
// and never changed afterwards, so an edited Corefile stays; a Reconcile
// object is created when missing and replaced when the add-on's own
// definition changed, recorded as a hash in an annotation. Applying the
// same add-on twice changes nothing.
package addons
