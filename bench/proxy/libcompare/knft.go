package main

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/knftables"
)

func knftFull(n int) (time.Duration, error) {
	nft, err := knftables.New(knftables.IPv4Family, "minik8s")
	if err != nil {
		return 0, err
	}
	tx := nft.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Flush(&knftables.Table{})
	tx.Add(&knftables.Map{Name: "svc", Type: "ipv4_addr . inet_proto . inet_service : verdict"})
	tx.Add(&knftables.Chain{Name: "pre", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PreroutingHook), Priority: knftables.PtrTo(knftables.DNATPriority)})
	tx.Add(&knftables.Rule{Chain: "pre", Rule: "ip daddr . meta l4proto . th dport vmap @svc"})
	for i := 0; i < n; i++ {
		c := fmt.Sprintf("svc_%d", i)
		tx.Add(&knftables.Chain{Name: c})
		tx.Add(&knftables.Rule{Chain: c, Rule: "ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000"})
		tx.Add(&knftables.Rule{Chain: c, Rule: dnatRule(i, 0)})
		tx.Add(&knftables.Element{Map: "svc", Key: []string{fmt.Sprintf("10.96.%d.%d", i/256, i%256), "tcp", "80"}, Value: []string{"goto " + c}})
	}
	start := time.Now()
	err = nft.Run(context.Background(), tx)
	return time.Since(start), err
}

func dnatRule(i, gen int) string {
	s := "meta l4proto tcp dnat ip to numgen random mod 5 map { "
	for e := 0; e < 5; e++ {
		if e > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%d : 10.%d.%d.%d . 8080", e, 100+e, i/256, (i+gen)%256)
	}
	return s + " }"
}

func knftChange(i, gen int) (time.Duration, error) {
	nft, err := knftables.New(knftables.IPv4Family, "minik8s")
	if err != nil {
		return 0, err
	}
	tx := nft.NewTransaction()
	c := fmt.Sprintf("svc_%d", i)
	tx.Flush(&knftables.Chain{Name: c})
	tx.Add(&knftables.Rule{Chain: c, Rule: "ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000"})
	tx.Add(&knftables.Rule{Chain: c, Rule: dnatRule(i, gen)})
	start := time.Now()
	err = nft.Run(context.Background(), tx)
	return time.Since(start), err
}
