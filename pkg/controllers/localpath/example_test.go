package localpath_test

import (
	"fmt"

	"minik8s/pkg/controllers/localpath"
)

func ExampleClass() {
	sc := localpath.Class()
	fmt.Println(sc.Name, sc.Provisioner, *sc.VolumeBindingMode, *sc.ReclaimPolicy, sc.Annotations["storageclass.kubernetes.io/is-default-class"])
	// Output: local-path minik8s.io/local-path WaitForFirstConsumer Delete true
}
