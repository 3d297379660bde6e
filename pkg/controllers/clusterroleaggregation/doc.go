// Package clusterroleaggregation fills the rules of aggregated
// ClusterRoles, as kube-controller-manager's
// clusterrole-aggregation-controller does: a ClusterRole with an
// aggregationRule gets the union of the rules of every other
// ClusterRole its selectors match (in name order, duplicates dropped),
// written by server-side apply as the field manager
// "clusterrole-aggregation-controller". The bootstrap roles admin, edit
// and view are aggregated this way from system:aggregate-to-admin, -edit
// and -view, and any ClusterRole labelled
// rbac.authorization.k8s.io/aggregate-to-view: "true" (say, a CRD's
// reader) extends view, edit and admin.
package clusterroleaggregation
