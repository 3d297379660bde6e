// Command echo is the lab's test server (image minik8s/echo): GET / answers
// with the pod's hostname on the first line, then the request and
// $GREETING; /healthz answers ok; the same port echoes UDP datagrams. On
// SIGTERM it stops accepting, drains in-flight requests and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", ":8080", "address for HTTP (TCP) and UDP echo")
	delay := flag.Duration("shutdown-delay", 0, "on SIGTERM, keep serving this long (with /healthz failing) before draining, so endpoints drop the pod first")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, *listen, os.Getenv("GREETING"), *delay, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}
