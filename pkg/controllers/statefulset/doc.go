// Package statefulset runs StatefulSets as Kubernetes' statefulset-controller
// does: pods with stable names <set>-<ordinal>, hostnames and subdomain,
// created in ordinal order one Running-and-Ready (and available) pod at a
// time under OrderedReady or all at once under Parallel, removed from the
// highest ordinal down; one PersistentVolumeClaim per volumeClaimTemplate
// and ordinal, created before its pod and owned as the retention policy
// says; a ControllerRevision per template (named and hashed as upstream) for
// rolling updates by descending ordinal above a partition, OnDelete, rollout
// history and undo; and the set's status written from what it observed.
package statefulset
