package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

// ReasonAllocationFailed is the Event reason of a Service left pending.
const ReasonAllocationFailed = "AllocationFailed"

// Controller is the LoadBalancer IP allocator.
type Controller struct {
	client    kubernetes.Interface
	svcLister corelisters.ServiceLister
	synced    cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder

	mu      sync.Mutex
	pool    *Pool
	held    map[string]string // service key → IP
	rebuilt bool
}

// New allocates from pool (which may be empty: then every LoadBalancer
// Service stays pending, with an Event saying so).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, pool *Pool) *Controller {
	if pool == nil {
		pool, _ = ParsePool(nil)
	}
	inf := factory.Core().V1().Services()
	c := &Controller{
		client:    client,
		svcLister: inf.Lister(),
		synced:    inf.Informer().HasSynced,
		queue:     reconcile.NewQueue("loadbalancer"),
		recorder:  recorder,
		pool:      pool,
		held:      map[string]string{},
	}
	inf.Informer().AddEventHandler(reconcile.EnqueueHandler(c.queue))
	return c
}

func ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.LoadBalancerClass == nil
}

func key(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// rebuild takes the addresses Services already show, oldest Service first,
// so a restart keeps every assignment.
func (c *Controller) rebuild() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rebuilt {
		return nil
	}
	svcs, err := c.svcLister.List(labels.Everything())
	if err != nil {
		return err
	}
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].CreationTimestamp.Equal(&svcs[j].CreationTimestamp) {
			return key(svcs[i]) < key(svcs[j])
		}
		return svcs[i].CreationTimestamp.Before(&svcs[j].CreationTimestamp)
	})
	for _, s := range svcs {
		if !ours(s) {
			continue
		}
		for _, in := range s.Status.LoadBalancer.Ingress {
			if in.IP != "" && c.pool.Assign(in.IP, key(s)) {
				c.held[key(s)] = in.IP
				break
			}
		}
	}
	c.rebuilt = true
	return nil
}

// Run rebuilds the pool from the Services' status, starts workers and
// blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "loadbalancer", c.queue, workers, []cache.InformerSynced{c.synced}, reconcile.Plain(c.sync),
		reconcile.OnSynced(func(context.Context) error { return c.rebuild() }))
}

// releaseLocked frees k's address and wakes the Services still waiting.
func (c *Controller) releaseLocked(k string) {
	ip, ok := c.held[k]
	if !ok {
		return
	}
	c.pool.Release(ip, k)
	delete(c.held, k)
	svcs, _ := c.svcLister.List(labels.Everything())
	for _, s := range svcs {
		if ours(s) && len(s.Status.LoadBalancer.Ingress) == 0 && key(s) != k {
			c.queue.Add(key(s))
		}
	}
}

func (c *Controller) sync(ctx context.Context, k string) error {
	if err := c.rebuild(); err != nil {
		return err
	}
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return nil
	}
	svc, err := c.svcLister.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		c.releaseLocked(k)
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	if !ours(svc) {
		c.mu.Lock()
		ip, held := c.held[k]
		c.releaseLocked(k)
		c.mu.Unlock()
		if held && svc.Spec.LoadBalancerClass == nil && hasIngress(svc, ip) {
			return c.writeStatus(ctx, svc, "")
		}
		return nil
	}
	ip, err := c.assign(svc)
	if err != nil {
		c.recorder.Event(svc, corev1.EventTypeWarning, ReasonAllocationFailed, err.Error())
		return nil
	}
	if len(svc.Status.LoadBalancer.Ingress) == 1 && svc.Status.LoadBalancer.Ingress[0].IP == ip {
		return nil
	}
	if err := c.writeStatus(ctx, svc, ip); err != nil {
		return err
	}
	c.recorder.Eventf(svc, corev1.EventTypeNormal, "IPAllocated", "Assigned LoadBalancer IP %s", ip)
	return nil
}

func hasIngress(svc *corev1.Service, ip string) bool {
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if in.IP == ip {
			return true
		}
	}
	return false
}

// assign returns the address svc should show, reserving it.
func (c *Controller) assign(svc *corev1.Service) (string, error) {
	k := key(svc)
	c.mu.Lock()
	defer c.mu.Unlock()
	want := svc.Spec.LoadBalancerIP
	if ip, ok := c.held[k]; ok {
		if want == "" || want == ip {
			return ip, nil
		}
		// The user asked for another address: move if we can.
		c.releaseLocked(k)
	}
	if c.pool.Empty() {
		return "", errors.New("no LoadBalancer IP pool is configured: start the controller-manager with --lb-pool (a range such as 10.200.0.200-10.200.0.250, or a CIDR)")
	}
	if want != "" {
		if !c.pool.Contains(want) {
			return "", fmt.Errorf("requested loadBalancerIP %s is not in the pool %s (set by --lb-pool)", want, c.pool)
		}
		if !c.pool.Assign(want, k) {
			return "", fmt.Errorf("requested loadBalancerIP %s is already used by service %s", want, c.pool.Holder(want))
		}
		c.held[k] = want
		return want, nil
	}
	ip, err := c.pool.Allocate(k)
	if err != nil {
		return "", fmt.Errorf("LoadBalancer IP pool %s is exhausted (%d of %d addresses in use): widen --lb-pool or delete a LoadBalancer Service", c.pool, c.pool.InUse(), c.pool.Size())
	}
	c.held[k] = ip
	return ip, nil
}

func (c *Controller) writeStatus(ctx context.Context, svc *corev1.Service, ip string) error {
	cp := svc.DeepCopy()
	cp.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	if ip != "" {
		vip := corev1.LoadBalancerIPModeVIP
		cp.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip, IPMode: &vip}}
	}
	_, err := c.client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
