// Package apiserver serves Kubernetes' REST API over HTTP (gin) on the
// etcd store of package storage: discovery, the verbs of every resource in
// package api's table, watch streams, patches, the status, scale, binding
// and finalize subresources, logs and exec proxied to the node agents,
// admission (ClusterIPs, NodePorts, default tolerations) and server-side
// tables, with Kubernetes' Status errors. Requests pass kube-apiserver's
// filters (auth.go); authorization is upstream's RBAC on informers of the
// server's own API, with the bootstrap policy reconciled at every start
// (rbacpolicy.go), escalation prevention on writes of roles and bindings
// (rbacescalation.go) and the access reviews (review.go).
package apiserver
