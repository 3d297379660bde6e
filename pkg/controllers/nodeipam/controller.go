package nodeipam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

// Controller is the node pod-CIDR allocator.
type Controller struct {
	client     kubernetes.Interface
	nodeLister corelisters.NodeLister
	synced     cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	recorder   record.EventRecorder

	mu      sync.Mutex
	alloc   *Allocator
	byNode  map[string]string // node → CIDR we count as its
	rebuilt bool
}

// New allocates /maskSize subnets of clusterCIDR.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clusterCIDR *net.IPNet, maskSize int) (*Controller, error) {
	alloc, err := NewAllocator(clusterCIDR, maskSize)
	if err != nil {
		return nil, err
	}
	inf := factory.Core().V1().Nodes()
	c := &Controller{
		client:     client,
		nodeLister: inf.Lister(),
		synced:     inf.Informer().HasSynced,
		queue:      reconcile.NewQueue("nodeipam"),
		recorder:   recorder,
		alloc:      alloc,
		byNode:     map[string]string{},
	}
	inf.Informer().AddEventHandler(reconcile.EnqueueHandler(c.queue))
	return c, nil
}

// rebuild marks every CIDR the nodes already carry as used, before any
// allocation, so a restart never hands one out twice.
func (c *Controller) rebuild() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rebuilt {
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, n := range nodes {
		c.occupyLocked(n)
	}
	c.rebuilt = true
	return nil
}

func nodeCIDRs(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

func (c *Controller) occupyLocked(n *corev1.Node) {
	for _, cidr := range nodeCIDRs(n) {
		if old, ok := c.byNode[n.Name]; ok && old != cidr {
			c.alloc.Release(old)
			delete(c.byNode, n.Name)
		}
		if c.alloc.Occupy(cidr) {
			c.byNode[n.Name] = cidr
		}
	}
}

// Run rebuilds the allocator from the Nodes' CIDRs, starts workers and
// blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "nodeipam", c.queue, workers, []cache.InformerSynced{c.synced}, reconcile.Plain(c.sync),
		reconcile.OnSynced(func(context.Context) error { return c.rebuild() }))
}

func (c *Controller) sync(ctx context.Context, name string) error {
	if err := c.rebuild(); err != nil {
		return err
	}
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		if cidr, ok := c.byNode[name]; ok {
			c.alloc.Release(cidr)
			delete(c.byNode, name)
		}
		c.mu.Unlock()
		return nil
	}
	if err != nil {
		return err
	}
	c.mu.Lock()
	if len(nodeCIDRs(node)) > 0 {
		c.occupyLocked(node)
		c.mu.Unlock()
		return nil
	}
	cidr, ok := c.byNode[name]
	if !ok {
		cidr, err = c.alloc.Allocate()
		if err != nil {
			c.mu.Unlock()
			c.recorder.Eventf(node, corev1.EventTypeWarning, "CIDRNotAvailable", "No pod CIDR left for node %s: %v (widen --cluster-cidr or shrink --node-cidr-mask-size)", name, err)
			return nil
		}
		c.byNode[name] = cidr
	}
	c.mu.Unlock()
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"podCIDR": cidr, "podCIDRs": []string{cidr}}})
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		// Keep the reservation: the retry patches the same CIDR.
		return errors.Join(fmt.Errorf("setting podCIDR %s on node %s", cidr, name), err)
	}
	c.recorder.Eventf(node, corev1.EventTypeNormal, "CIDRAssignmentSucceeded", "Assigned pod CIDR %s to node %s", cidr, name)
	return nil
}
