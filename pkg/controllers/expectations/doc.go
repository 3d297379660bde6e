// Package expectations records, per owner (a ReplicaSet, DaemonSet or Job
// key), the pod creations and deletions a controller has made but not yet
// seen in its informer cache.
//
// A controller that creates pods reads them back from a cache that lags
// behind its own writes. Syncing the owner again before the watch has
// delivered them would count the new pods missing (and create them twice)
// or the deleted ones present (and delete more). So the controller records
// what it expects before writing, its event handlers mark each write as
// observed, and it only resizes an owner whose expectations are satisfied;
// it may still write status meanwhile. Expectations expire after TTL, so a
// lost watch event never wedges an owner: the cache is trusted again.
//
// Tracker counts creations and names deletions by pod key, so a pod
// deleted by someone else is not taken for one of the controller's
// (upstream's UIDTrackingControllerExpectations). Counter counts both, as
// upstream's ControllerExpectations does for the Job controller. Both are
// modelled on Kubernetes' pkg/controller/controller_utils.go, written anew
// so the controller-manager does not import it.
package expectations
