// Command controller-manager runs the minik8s controllers.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"minik8s/pkg/controllers/manager"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := manager.NewCommand(ctx).Execute()
	stop()
	if err != nil {
		os.Exit(1)
	}
}
