package cgroup_test

import (
	"fmt"
	"log"
	"os/exec"

	"minik8s/pkg/cgroup"
)

// Track a process by cgroup, whatever the host's layout, and kill it with
// everything it started.
func Example() {
	c, err := cgroup.Detect(cgroup.Root) // refuses a host with neither v1 nor v2
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command("/bin/sleep", "300")
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	if err := c.Join(cmd.Process.Pid, "example/worker"); err != nil {
		log.Fatal(err)
	}
	cpu, _ := c.CPUUsage("example")
	n, err := c.Kill("example") // cgroup.kill on v2; removes the cgroups
	fmt.Println(c.Mode, n, cpu >= 0, err, cmd.Wait())
}
