// Command container-logger is the logging binary the node agent gives
// containerd for every container: the shim starts it with the container's
// output and it appends timestamped CRI log lines to --path. It stays
// small (no cobra, no Kubernetes packages): one runs per container.
package main

import (
	"flag"
	"fmt"
	"os"

	"minik8s/pkg/containerlog"
)

func main() {
	path := flag.String("path", "", "log file to append to")
	flag.Parse()
	if *path == "" {
		fmt.Fprintln(os.Stderr, "container-logger: --path is required")
		os.Exit(2)
	}
	if err := containerlog.RunLogger(*path); err != nil {
		fmt.Fprintln(os.Stderr, "container-logger:", err)
		os.Exit(1)
	}
}
