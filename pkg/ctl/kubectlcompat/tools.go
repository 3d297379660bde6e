//go:build tools

package kubectlcompat

// The packages testdata/kubectl builds upstream kubectl from: imported here
// (under a tag no build sets) so that go mod tidy keeps their modules
// (k8s.io/metrics, kustomize) in go.mod and go.sum.
import (
	_ "k8s.io/component-base/cli"
	_ "k8s.io/kubectl/pkg/cmd"
)
