// Command toolbox holds the tools of the minik8s/toolbox image that the
// image's busybox gets wrong. It is one binary that several names link
// to, like busybox: run as wget (or `toolbox wget …`) it is wget.
//
// Debian builds busybox (busybox-static and busybox alike, 1.35 in
// bookworm) without FEATURE_WGET_TIMEOUT, yet its wget still parses -T
// and stores the number through a null pointer: `wget -T 3 URL`, what a
// learner types from a pod, dies with SIGSEGV (exit 139). This wget takes
// busybox wget's options and prints its messages, and -T works.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// applets are the tools by the name they are called as.
var applets = map[string]func(ctx context.Context, args []string, env environment) int{
	"wget": wget,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if _, ok := applets[name]; !ok && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	run, ok := applets[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "toolbox: no applet %q: run it as one of: wget\n", name)
		os.Exit(1)
	}
	os.Exit(run(ctx, args, environment{stdout: os.Stdout, stderr: os.Stderr}))
}
