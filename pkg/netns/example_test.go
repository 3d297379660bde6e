package netns_test

import (
	"fmt"
	"net"
	"os/exec"

	"minik8s/pkg/netns"
)

// A listener made inside a node's namespace keeps listening there, and a
// command started there runs there.
func ExampleDo() {
	var ln net.Listener
	err := netns.Do("/run/netns/mk8s-node1", func() (err error) {
		ln, err = net.Listen("tcp4", ":8080")
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()

	cmd := exec.Command("ip", "addr")
	if err := netns.Start("/run/netns/mk8s-node1", cmd); err != nil {
		fmt.Println(err)
		return
	}
	_ = cmd.Wait()
}
