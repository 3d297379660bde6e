// Command libcompare is the measurement behind pkg/proxy's choice of
// library and rule layout: one nftables transaction of N Services x 5
// endpoints, then 20 one-Service changes, through
//
//	knft         sigs.k8s.io/knftables (nft text), per-Service anonymous DNAT map
//	gnft         google/nftables (netlink), per-Service anonymous DNAT map
//	gnft-small   the same with default socket buffers (fails: message too long)
//	gnft-shared  one shared DNAT map keyed (service id . numgen)
//	gnft-rules   one DNAT rule per endpoint (numgen random mod k), no sets: chosen
//
// Run it in a throwaway netns, never the root one:
//
//	ip netns add pxt-bench
//	ip netns exec pxt-bench go run ./bench/proxy/libcompare -lib gnft-rules
//	ip netns del pxt-bench
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	"minik8s/bench/internal/stats"
)

func main() {
	lib := flag.String("lib", "gnft", "knft, gnft, gnft-small, gnft-shared or gnft-rules")
	n := flag.Int("n", 10000, "services")
	flag.Parse()
	var d time.Duration
	var err error
	switch *lib {
	case "knft":
		d, err = knftFull(*n)
	case "gnft":
		d, err = gnftFull(*n, true)
	case "gnft-shared":
		shared = true
		d, err = gnftFull(*n, true)
	case "gnft-rules":
		perRule = true
		d, err = gnftFull(*n, true)
	case "gnft-small":
		d, err = gnftFull(*n, false)
	}
	fmt.Printf("%s full sync %d services: %v err=%v\n", *lib, *n, d, err)
	if err != nil {
		os.Exit(1)
	}
	out, _ := exec.Command("sh", "-c", "nft list table ip minik8s | wc -l").Output()
	fmt.Printf("ruleset lines: %s", out)
	if *lib == "gnft-shared" {
		return // its change path (re-adding map elements) is not modelled
	}
	var ds []time.Duration
	for g := 1; g <= 20; g++ {
		i := (g * 397) % *n
		if *lib == "knft" {
			d, err = knftChange(i, g)
		} else {
			d, err = gnftChange(i, g)
		}
		if err != nil {
			fmt.Println("change:", err)
			os.Exit(1)
		}
		ds = append(ds, d)
	}
	fmt.Printf("%s one-service change: %s\n", *lib, stats.Summary(ds, time.Duration.String))
}
