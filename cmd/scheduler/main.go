// Command scheduler binds pending pods to nodes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"minik8s/pkg/scheduler"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := scheduler.NewCommand(ctx).Execute(); err != nil {
		os.Exit(1)
	}
}
