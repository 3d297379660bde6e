// Command controllers benchmarks the controller-manager against an
// in-process apiserver (embedded etcd in a temp dir): a Deployment scaled
// from 0 to N replicas (pods bound to fake nodes and reported Ready by this
// program, which stands in for the node agents), then a rolling update of
// those N pods with maxSurge 25%.
//
//	go run ./bench/controllers [--replicas 1000] [--nodes 10]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/controllers/manager"
)

func main() {
	replicas := flag.Int("replicas", 1000, "replicas to scale to")
	nodes := flag.Int("nodes", 10, "fake nodes the pods are bound to")
	agentWorkers := flag.Int("agent-workers", 32, "concurrent fake-agent writers")
	qps := flag.Float64("qps", 200, "controller-manager --kube-api-qps")
	burst := flag.Int("burst", 400, "controller-manager --kube-api-burst")
	timeout := flag.Duration("timeout", 10*time.Minute, "give up after")
	flag.Parse()
	klog.SetOutput(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, int32(*replicas), *nodes, *agentWorkers, float32(*qps), *burst); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int32, nodes, workers int, qps float32, burst int) error {
	dir, err := os.MkdirTemp("", "bench-controllers-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	acfg := apiserver.NewConfig()
	acfg.Listen = []string{"127.0.0.1:0"}
	acfg.DataDir = dir
	acfg.UnsafeNoFsync = true
	if err := acfg.Validate(); err != nil {
		return err
	}
	srv, err := apiserver.Start(ctx, acfg)
	if err != nil {
		return fmt.Errorf("starting apiserver: %w", err)
	}
	defer srv.Close()
	<-srv.ReadyNotify()
	rc := &rest.Config{Host: "http://" + srv.Addrs()[0], QPS: 5000, Burst: 10000}
	client := kubernetes.NewForConfigOrDie(rc)

	names, err := makeNodes(ctx, client, nodes)
	if err != nil {
		return err
	}
	go renewLeases(ctx, client, names)

	mcfg := manager.NewConfig()
	mcfg.QPS, mcfg.Burst = qps, burst
	mctx, stopManager := context.WithCancel(ctx)
	mdone := make(chan error, 1)
	go func() { mdone <- manager.Run(mctx, rc, mcfg) }()
	defer func() { stopManager(); <-mdone }()

	agent := newAgent(client, names)
	go agent.run(ctx, workers)

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating service: %w", err)
	}
	zero := int32(0)
	surge, unavail := intstr.FromString("25%"), intstr.FromString("25%")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: "minik8s/echo:1"}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating deployment: %w", err)
	}
	if _, err := waitFor(ctx, client, func(d *appsv1.Deployment) bool { return d.Status.ObservedGeneration >= d.Generation }); err != nil {
		return err
	}

	fmt.Printf("scale 0 -> %d (%d fake nodes, controller-manager QPS %.0f burst %d)\n", n, nodes, qps, burst)
	scale, err := client.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return err
	}
	scale.Spec.Replicas = n
	start := time.Now()
	if _, err := client.AppsV1().Deployments("default").UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scaling: %w", err)
	}
	// The watcher hands its one result over a channel: the main goroutine
	// reads it only after the watcher wrote it.
	existed := make(chan time.Duration, 1)
	go func() {
		for ctx.Err() == nil {
			if agent.live() >= int(n) {
				existed <- time.Since(start)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, err := waitFor(ctx, client, func(d *appsv1.Deployment) bool { return d.Status.AvailableReplicas == n }); err != nil {
		return err
	}
	availAt := time.Since(start)
	var existAt time.Duration
	select {
	case existAt = <-existed:
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Printf("  %d pods exist after        %v\n", n, existAt.Round(time.Millisecond))
	fmt.Printf("  status %d available after  %v\n", n, availAt.Round(time.Millisecond))

	fmt.Printf("rolling update of %d pods (maxSurge 25%%, maxUnavailable 25%%)\n", n)
	cur, err := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:2"
	var maxLive, minReady atomic.Int64
	minReady.Store(int64(n))
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		for sampleCtx.Err() == nil {
			l, r := agent.live(), agent.ready()
			if int64(l) > maxLive.Load() {
				maxLive.Store(int64(l))
			}
			if int64(r) < minReady.Load() {
				minReady.Store(int64(r))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	start = time.Now()
	if _, err := client.AppsV1().Deployments("default").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating image: %w", err)
	}
	final, err := waitFor(ctx, client, func(d *appsv1.Deployment) bool {
		s := d.Status
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == n && s.Replicas == n && s.AvailableReplicas == n
	})
	if err != nil {
		return err
	}
	doneAt := time.Since(start)
	stopSampling()
	fmt.Printf("  rollout complete after     %v (max live pods %d, min ready %d; bounds %d / %d)\n",
		doneAt.Round(time.Millisecond), maxLive.Load(), minReady.Load(), n+(n+3)/4, n-n/4)
	scaling := 0
	if evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{}); err == nil {
		for _, e := range evs.Items {
			if e.Reason == "ScalingReplicaSet" {
				scaling++
			}
		}
	}
	fmt.Printf("  deployment revision %s, %d ScalingReplicaSet events\n", final.Annotations["deployment.kubernetes.io/revision"], scaling)
	slices, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
	if err == nil {
		total := 0
		for _, s := range slices.Items {
			total += len(s.Endpoints)
		}
		fmt.Printf("  service web: %d EndpointSlices holding %d endpoints\n", len(slices.Items), total)
	}
	return nil
}

func waitFor(ctx context.Context, client kubernetes.Interface, cond func(*appsv1.Deployment) bool) (*appsv1.Deployment, error) {
	var last *appsv1.Deployment
	err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = d
		return cond(d), nil
	})
	if err != nil {
		if last != nil {
			return nil, fmt.Errorf("waiting for deployment (status %+v): %w", last.Status, err)
		}
		return nil, err
	}
	return last, nil
}

func makeNodes(ctx context.Context, client kubernetes.Interface, n int) ([]string, error) {
	var names []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("node%d", i)
		node, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating node: %w", err)
		}
		now := metav1.Now()
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return nil, fmt.Errorf("node status: %w", err)
		}
		names = append(names, name)
	}
	return names, nil
}

// renewLeases heartbeats for the fake nodes, so node lifecycle leaves them be.
func renewLeases(ctx context.Context, client kubernetes.Interface, names []string) {
	leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	secs := int32(40)
	for ctx.Err() == nil {
		for _, name := range names {
			now := metav1.NewMicroTime(time.Now())
			l, err := leases.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				holder := name
				_, _ = leases.Create(ctx, &coordv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
					Spec: coordv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &now}}, metav1.CreateOptions{})
				continue
			}
			l.Spec.RenewTime = &now
			_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}

// agent stands in for the node agents of all fake nodes.
type agent struct {
	client  kubernetes.Interface
	nodes   []string
	next    atomic.Int64
	factory informers.SharedInformerFactory
	store   cache.Store
	queue   workqueue.TypedRateLimitingInterface[string]
}

func newAgent(client kubernetes.Interface, nodes []string) *agent {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace("default"))
	a := &agent{client: client, nodes: nodes, factory: f,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	inf := f.Core().V1().Pods().Informer()
	a.store = inf.GetStore()
	enqueue := func(obj any) {
		if k, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(k)
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) }})
	return a
}

func (a *agent) live() int {
	n := 0
	for _, o := range a.store.List() {
		if o.(*corev1.Pod).DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

func (a *agent) ready() int {
	n := 0
	for _, o := range a.store.List() {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp == nil && isReady(p) {
			n++
		}
	}
	return n
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (a *agent) run(ctx context.Context, workers int) {
	a.factory.Start(ctx.Done())
	a.factory.WaitForCacheSync(ctx.Done())
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k, quit := a.queue.Get()
				if quit {
					return
				}
				if err := a.handle(ctx, k); err != nil && ctx.Err() == nil {
					a.queue.AddRateLimited(k)
				} else {
					a.queue.Forget(k)
				}
				a.queue.Done(k)
			}
		}()
	}
	<-ctx.Done()
	a.queue.ShutDown()
	wg.Wait()
}

func (a *agent) handle(ctx context.Context, key string) error {
	obj, ok, err := a.store.GetByKey(key)
	if err != nil || !ok {
		return err
	}
	pod := obj.(*corev1.Pod).DeepCopy()
	pods := a.client.CoreV1().Pods(pod.Namespace)
	if pod.DeletionTimestamp != nil {
		zero := int64(0)
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !isNotFound(err) {
			return err
		}
		return nil
	}
	if pod.Spec.NodeName == "" {
		node := a.nodes[int(a.next.Add(1))%len(a.nodes)]
		return pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
		// The bound pod comes back through the informer.
	}
	if isReady(pod) {
		return nil
	}
	i := a.next.Add(1)
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIP = fmt.Sprintf("10.244.%d.%d", i/250%250, 1+i%250)
	pod.Status.PodIPs = []corev1.PodIP{{IP: pod.Status.PodIP}}
	pod.Status.StartTime = &now
	pod.Status.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}
	_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if isNotFound(err) {
		return nil
	}
	return err
}

func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	type statusErr interface{ Status() metav1.Status }
	if se, ok := err.(statusErr); ok {
		return se.Status().Code == 404
	}
	return false
}
