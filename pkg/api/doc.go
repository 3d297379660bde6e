// Package api holds minik8s' own part of the object model: the table of
// supported resources, defaulting, validation, per-resource strategies
// (what create and update may change, when generation moves), field
// selectors and server-side table columns. The objects themselves are
// k8s.io/api types; nothing here redefines them.
package api
