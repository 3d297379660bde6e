// Command coredns is CoreDNS, built from its Go module with the plugins
// the cluster DNS add-on uses compiled in, the way CoreDNS's own main
// (coredns.go with core/plugin/zplugin.go) compiles in all of them.
//
// It is a module of its own so that CoreDNS's dependency tree stays out of
// minik8s's go.mod. Build it beside the other binaries:
//
//	(cd cmd/coredns && CGO_ENABLED=0 go build -o ../../bin/ .)
//
// The plugins run in CoreDNS's fixed order (core/dnsserver/zdirectives.go),
// whatever the order of the imports below.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver" // The DNS server type.
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
