// Command toolbox holds the tools of the minik8s/toolbox image that the
// image's busybox gets wrong. It is one binary that several names link
// to, like busybox: run as wget (or `toolbox wget …`) it is wget.
//
// Debian builds busybox (busybox-static and busybox alike, 1.35 in
// bookworm) without FEATURE_WGET_TIMEOUT, yet its wget still parses -T
// and stores the number through a null pointer: `wget -T 3 URL`, what a
// learner types from a pod, dies with SIGSEGV (exit 139). This wget takes
// busybox wget's options and prints its messages, and -T works.
//
// busybox has no curl, the first thing tutorials type from a pod: curl
// here is a small one (the options tutorials and Kubernetes' e2e tests
// use, curl's messages and exit codes). nc is OpenBSD's netcat (-v, -z,
// -W, -k), which the Alpine-based images of Kubernetes' e2e tests carry;
// the toolbox image keeps busybox's nc, and only the conformance runner's
// stand-in for agnhost links this one.
package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// applets are the tools by the name they are called as.
var applets = map[string]func(ctx context.Context, args []string, env environment) int{
	"wget": wget,
	"curl": curl,
	"nc":   nc,
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
		names := slices.Sorted(maps.Keys(applets))
		fmt.Fprintf(os.Stderr, "toolbox: no applet %q: run it as one of: %s\n", name, strings.Join(names, ", "))
		os.Exit(1)
	}
	os.Exit(run(ctx, args, environment{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}))
}
