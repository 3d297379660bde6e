//go:build tools

// Package conformance pins the programs run.sh builds besides e2e.test, at
// the versions k8s.io/kubernetes v1.37.2 requires: the ginkgo command,
// kubectl of the same release (the kubectl tests run it), and the e2e test
// images' programs (agnhost, nonewprivs' nnp) that run.sh
// packs into the lab registry because the lab cannot pull
// registry.k8s.io.
package conformance

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/test/images/agnhost"
	_ "k8s.io/kubernetes/test/images/nonewprivs"
)
