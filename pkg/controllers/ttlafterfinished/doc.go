// Package ttlafterfinished deletes finished Jobs once their
// spec.ttlSecondsAfterFinished has passed, as kube-controller-manager's
// ttl-after-finished-controller does: the time counts from the Complete or
// Failed condition's lastTransitionTime, a Job not yet expired waits in a
// delaying queue until it is, and before deleting the controller reads the
// Job fresh from the apiserver (the TTL may just have changed) and deletes
// it with foreground propagation and its UID as precondition, so that its
// pods go first and a new Job of the same name is never touched.
package ttlafterfinished
