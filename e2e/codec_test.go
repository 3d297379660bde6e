//go:build e2e

package e2e

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

var parameterCodec = runtime.NewParameterCodec(scheme.Scheme)
