// Package job runs batch/v1 Jobs to completion as Kubernetes' job-controller
// does: it creates pods from the template (up to parallelism, never more
// than the completions left; one per completion index for Indexed Jobs),
// tracks every finished pod through the batch.kubernetes.io/job-tracking
// finalizer and status.uncountedTerminatedPods so that no success or failure
// is lost when pods are deleted early, re-creates failed pods after an
// exponential back-off, applies the backoff limit, the active deadline, the
// pod failure policy, backoffLimitPerIndex and the success policy, and
// finishes a Job with the interim FailureTarget or SuccessCriteriaMet
// condition first and Failed or Complete once its pods are gone.
package job
