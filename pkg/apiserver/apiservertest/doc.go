// Package apiservertest starts a real apiserver on an embedded etcd for
// tests of other packages.
package apiservertest
