// Command kubectl is upstream kubectl, exactly as its own main builds it,
// from the k8s.io/kubectl module this repository depends on. The
// kubectlcompat test builds it to drive a real kubectl against minik8s.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
