// Package kubectlcompat holds the test that drives a real kubectl, built
// from the k8s.io/kubectl module this repository depends on, against
// minik8s' API server: the proof that "any client of Kubernetes is a
// client of ours" holds for the verbs people use most.
package kubectlcompat
