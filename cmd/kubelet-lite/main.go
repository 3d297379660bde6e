// Command kubelet-lite is minik8s' node agent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"minik8s/pkg/kubelet"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := kubelet.NewCommand(ctx).Execute()
	stop()
	if err != nil {
		// cobra has printed it ("Error: …"), as for the other components.
		os.Exit(1)
	}
}
