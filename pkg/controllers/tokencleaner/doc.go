// Package tokencleaner deletes expired bootstrap tokens: kube-system
// Secrets of type bootstrap.kubernetes.io/token whose expiration has
// passed, as kube-controller-manager's tokencleaner (upstream's code)
// does. `ctl token create` makes the tokens agents join with; this keeps
// a leaked old one from lingering.
package tokencleaner
