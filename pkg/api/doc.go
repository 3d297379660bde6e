// Package api holds minik8s' own part of the object model: the table of
// supported resources (resources.go, kinds.go), and per resource its
// strategy: defaulting, validation, what create and update may change,
// when generation moves, field selectors and server-side table columns.
// The first ten kinds have strategies of their own (strategy.go); every
// other built-in kind is served with Kubernetes' own registry strategy,
// validation, defaulters and printers from k8s.io/kubernetes, run on the
// internal version by the adapter in upstream.go. The objects themselves
// are k8s.io/api types; nothing here redefines them.
package api
