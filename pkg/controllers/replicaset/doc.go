// Package replicaset keeps the number of running pods of each ReplicaSet at
// its spec.replicas: it owns the pods its selector matches (adopting orphans,
// releasing pods whose labels stop matching), creates the missing ones in
// slow-start batches, deletes the surplus least-valuable first, and writes
// status from what it observed. Expectations make sure a lagging watch never
// makes it create or delete twice.
//
// NewReplicationManager runs the same code for ReplicationControllers,
// converted to ReplicaSets and back as upstream's replication manager does.
package replicaset
