// Command kubelet-lite is minik8s' node agent.
package main

import (
	"context"
	"fmt"
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
		fmt.Fprintln(os.Stderr, "kubelet-lite:", err)
		os.Exit(1)
	}
}
