// Package bootstraptoken makes the bootstrap tokens agents join a
// cluster with, as kubeadm does: a kube-system Secret of type
// bootstrap.kubernetes.io/token per token, kubeadm's ClusterRoleBindings
// that let the token's group ask for node client certificates and have
// them approved, and the bootstrap kubeconfig an agent is given
// (--bootstrap-kubeconfig). `ctl token create` and the lab use it.
package bootstraptoken
