package pki_test

import (
	"fmt"
	"os"
	"path/filepath"

	"minik8s/pkg/pki"
)

// Example makes a cluster CA and a kubeconfig for the scheduler, as the
// lab does at its first `up`.
func Example() {
	dir, err := os.MkdirTemp("", "pki-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ca, err := pki.LoadOrCreateCA(dir, "example-ca")
	if err != nil {
		panic(err)
	}
	path := filepath.Join(dir, "scheduler.kubeconfig")
	if err := ca.WriteKubeconfig(path, "example", "https://127.0.0.1:6443", pki.Scheduler); err != nil {
		panic(err)
	}
	fmt.Println(ca.Cert.Subject.CommonName, pki.Scheduler.User)
	// Output: example-ca system:kube-scheduler
}
