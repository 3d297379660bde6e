// Package serviceaccount makes sure every active namespace has a
// ServiceAccount named "default", as kube-controller-manager's
// serviceaccount-controller does: it creates one when a namespace appears
// and again whenever it is deleted. It never changes a ServiceAccount that
// exists, and it leaves namespaces that are not Active alone (the apiserver
// refuses new objects in a terminating namespace anyway).
package serviceaccount
