// Package deployment turns each Deployment into ReplicaSets, one per pod
// template (named <deployment>-<pod-template-hash>), and moves replicas from
// the old ones to the new one by the Deployment's strategy: RollingUpdate
// within maxSurge/maxUnavailable, or Recreate. It keeps the revision
// annotations used by rollout history and undo, prunes old ReplicaSets past
// revisionHistoryLimit, spreads a scale during a rollout proportionally, and
// reports the Progressing and Available conditions.
//
// The arithmetic follows Kubernetes' pkg/controller/deployment.
package deployment
