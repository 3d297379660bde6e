// Command ctl is the minik8s command line: kubectl's verbs for the objects
// minik8s serves, plus `lab` (a cluster on one machine) and `image`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"minik8s/pkg/ctl"
	"minik8s/pkg/lab"
)

func main() {
	// client-go logs retries and discovery failures through klog; the
	// message ctl prints says the same once. Set here, once, rather than
	// by each command: tests run ctl's commands in processes whose
	// controllers log through klog meanwhile.
	klog.SetLogger(logr.Discard())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	image := lab.NewImageCommand(ctx)
	ctl.AddImageCommands(ctx, image, lab.DefaultDir())
	cmd := ctl.NewCommand(ctx, lab.NewCommand(ctx), image)
	if err := cmd.ExecuteContext(ctx); err != nil {
		os.Exit(ctl.ExitCode(err))
	}
}
