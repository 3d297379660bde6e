// Command apiserver serves the minik8s API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"minik8s/pkg/apiserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := apiserver.NewCommand(ctx).Execute(); err != nil {
		os.Exit(1)
	}
}
