// Command controllers benchmarks the controller-manager against an
// in-process apiserver (embedded etcd in a temp dir), with this program
// standing in for the node agents of fake nodes (it binds pods and reports
// them Running/Ready, or Succeeded for a Job's pods). Its parts run one
// after the other in the same process and server, each in its namespace:
// "deployment" scales a Deployment from 0 to N replicas, then rolls its N
// pods to a new image with maxSurge 25%; "job" runs a Job of 1,000
// completions, parallelism 100, to Complete; "statefulset" a StatefulSet of
// 100 (OrderedReady) to 100 ready; "daemonset" a DaemonSet on 1,000 fake
// nodes to all scheduled and all ready. Each of the last three is measured
// against a Deployment of the same pod count, to all available.
//
//	go run ./bench/controllers [--parts deployment,job,statefulset,daemonset] [--replicas 1000] [--nodes 10]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"minik8s/bench/internal/benchserver"
	"minik8s/pkg/controllers/manager"
)

// allParts in the order they run: daemonset last, as it adds its nodes.
var allParts = []string{"deployment", "job", "statefulset", "daemonset"}

type options struct {
	parts          map[string]bool
	replicas       int32
	nodes          int
	agentWorkers   int
	qps            float32
	burst          int
	jobCompletions int32
	jobParallelism int32
	stsReplicas    int32
	dsNodes        int
	cleanupTimeout time.Duration
}

func main() {
	var o options
	parts := flag.String("parts", strings.Join(allParts, ","), "comma-separated parts to run: "+strings.Join(allParts, ", "))
	replicas := flag.Int("replicas", 1000, "deployment part: replicas to scale to")
	flag.IntVar(&o.nodes, "nodes", 10, "fake nodes the pods are bound to (round-robin)")
	flag.IntVar(&o.agentWorkers, "agent-workers", 32, "concurrent fake-agent writers")
	qps := flag.Float64("qps", 200, "controller-manager --kube-api-qps")
	flag.IntVar(&o.burst, "burst", 400, "controller-manager --kube-api-burst")
	completions := flag.Int("job-completions", 1000, "job part: completions (and the deployment's replicas)")
	parallelism := flag.Int("job-parallelism", 100, "job part: parallelism")
	sts := flag.Int("sts-replicas", 100, "statefulset part: replicas (and the deployment's)")
	flag.IntVar(&o.dsNodes, "ds-nodes", 1000, "daemonset part: fake nodes (and the deployment's replicas)")
	flag.DurationVar(&o.cleanupTimeout, "cleanup-timeout", 3*time.Minute, "wait at most this long for a part's namespace to go before the next part")
	timeout := flag.Duration("timeout", 25*time.Minute, "give up after")
	flag.Parse()
	o.replicas, o.qps = int32(*replicas), float32(*qps)
	o.jobCompletions, o.jobParallelism, o.stsReplicas = int32(*completions), int32(*parallelism), int32(*sts)
	o.parts = map[string]bool{}
	for _, p := range strings.Split(*parts, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		known := false
		for _, a := range allParts {
			known = known || a == p
		}
		if !known {
			fmt.Fprintf(os.Stderr, "bench: unknown part %q (want some of %s)\n", p, strings.Join(allParts, ","))
			os.Exit(2)
		}
		o.parts[p] = true
	}
	klog.SetOutput(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	// Plain HTTP: this bench measures the controllers, not the cost of TLS and
	// authorization (bench/apiserver does).
	srv, err := benchserver.Start(ctx, "bench-controllers-", benchserver.Options{NoFsync: true})
	if err != nil {
		return err
	}
	defer srv.Close()
	<-srv.ReadyNotify()
	rc := &rest.Config{Host: srv.URL, QPS: 5000, Burst: 10000}
	client := kubernetes.NewForConfigOrDie(rc)

	nodes := &fakeNodes{client: client}
	if err := nodes.grow(ctx, o.nodes); err != nil {
		return err
	}
	leaseCtx, stopLeases := context.WithCancel(ctx)
	defer stopLeases()
	go nodes.renewLeases(leaseCtx)

	mcfg := manager.NewConfig()
	mcfg.QPS, mcfg.Burst = o.qps, o.burst
	// Node IPAM must have a pod CIDR for every fake node: a /16 holds 256
	// /24s, so with more nodes hand out smaller ones.
	total := o.nodes
	if o.parts["daemonset"] && o.dsNodes > total {
		total = o.dsNodes
	}
	for mcfg.NodeCIDRMaskSize < 30 && 1<<(mcfg.NodeCIDRMaskSize-16) < total {
		mcfg.NodeCIDRMaskSize++
	}
	mctx, stopManager := context.WithCancel(ctx)
	mdone := make(chan error, 1)
	go func() { mdone <- manager.Run(mctx, rc, mcfg) }()
	defer func() { stopManager(); <-mdone }()

	agentCtx, stopAgent := context.WithCancel(ctx)
	defer stopAgent()
	agent := newAgent(client, nodes.list())
	go agent.run(agentCtx, o.agentWorkers)

	fmt.Printf("controller-manager QPS %.0f burst %d, %d fake nodes, node CIDRs /%d\n", o.qps, o.burst, o.nodes, mcfg.NodeCIDRMaskSize)
	if o.parts["deployment"] {
		if err := deploymentScaleRollout(ctx, client, agent, o.replicas, o.nodes, o.qps, o.burst); err != nil {
			return err
		}
		cleanup(ctx, client, agent, "default", o.cleanupTimeout)
	}
	if o.parts["job"] {
		if err := jobVsDeployment(ctx, client, agent, o.jobCompletions, o.jobParallelism, o.cleanupTimeout); err != nil {
			return err
		}
	}
	if o.parts["statefulset"] {
		if err := statefulSetVsDeployment(ctx, client, agent, o.stsReplicas, o.cleanupTimeout); err != nil {
			return err
		}
	}
	if o.parts["daemonset"] {
		if err := daemonSetVsDeployment(ctx, client, agent, nodes, o.dsNodes, o.cleanupTimeout); err != nil {
			return err
		}
	}
	return nil
}
