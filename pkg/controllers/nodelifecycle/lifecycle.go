package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/reconcile"
)

// LeaseNamespace holds the node heartbeats.
const LeaseNamespace = corev1.NamespaceNodeLease

// DefaultMonitorPeriod is how often every node is checked.
const DefaultMonitorPeriod = 5 * time.Second

// Config tunes the lifecycle controller.
type Config struct {
	// GracePeriod without a heartbeat before a node is marked Unknown.
	GracePeriod time.Duration
	// MonitorPeriod between checks of all nodes.
	MonitorPeriod time.Duration
	Clock         clock.Clock
}

// health is what the controller saw of a node's heartbeats, timed by its own
// clock (never by the agent's timestamps: clocks differ).
type health struct {
	observed string
	probe    time.Time
}

// Controller is the node lifecycle controller.
type Controller struct {
	client      kubernetes.Interface
	nodeLister  corelisters.NodeLister
	leaseLister coordlisters.LeaseLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	recorder    record.EventRecorder
	cfg         Config

	mu     sync.Mutex
	health map[string]*health
}

// New wires the controller to the factory's Node and Lease informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, cfg Config) *Controller {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.MonitorPeriod == 0 {
		cfg.MonitorPeriod = DefaultMonitorPeriod
	}
	nodes := factory.Core().V1().Nodes()
	leases := factory.Coordination().V1().Leases()
	c := &Controller{
		client:      client,
		nodeLister:  nodes.Lister(),
		leaseLister: leases.Lister(),
		synced:      []cache.InformerSynced{nodes.Informer().HasSynced, leases.Informer().HasSynced},
		queue:       reconcile.NewQueue("nodelifecycle"),
		recorder:    recorder,
		cfg:         cfg,
		health:      map[string]*health{},
	}
	nodes.Informer().AddEventHandler(reconcile.EnqueueHandler(c.queue))
	onLease := func(obj any) {
		if l, ok := obj.(interface {
			GetNamespace() string
			GetName() string
		}); ok && l.GetNamespace() == LeaseNamespace {
			c.queue.Add(l.GetName())
		}
	}
	leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onLease,
		UpdateFunc: func(_, cur any) { onLease(cur) },
	})
	return c
}

// Run starts workers and a periodic check of every node, and blocks until
// ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "nodelifecycle", c.queue, workers, c.synced, c.sync, reconcile.OnSynced(func(ctx context.Context) error {
		// Silence is what this controller watches for, and silence sends no
		// events: look at every node periodically.
		go wait.UntilWithContext(ctx, func(context.Context) {
			nodes, _ := c.nodeLister.List(labels.Everything())
			for _, n := range nodes {
				c.queue.Add(n.Name)
			}
		}, c.cfg.MonitorPeriod)
		return nil
	}))
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// observe records the node's heartbeat signature and returns when it last
// changed.
func (c *Controller) observe(n *corev1.Node) time.Time {
	sig := ""
	if l, err := c.leaseLister.Leases(LeaseNamespace).Get(n.Name); err == nil && l.Spec.RenewTime != nil {
		sig = l.Spec.RenewTime.UTC().Format(time.RFC3339Nano)
	}
	if rc := readyCondition(n); rc != nil {
		sig += "|" + rc.LastHeartbeatTime.UTC().Format(time.RFC3339Nano) + "|" + string(rc.Status)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.health[n.Name]
	if !ok || h.observed != sig {
		h = &health{observed: sig, probe: c.cfg.Clock.Now()}
		c.health[n.Name] = h
	}
	return h.probe
}

func (c *Controller) sync(ctx context.Context, name string) (reconcile.Result, error) {
	cached, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, name)
		c.mu.Unlock()
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	node := cached
	probe := c.observe(node)
	now := c.cfg.Clock.Now()
	var res reconcile.Result
	if now.Sub(probe) > c.cfg.GracePeriod {
		if node, err = c.markUnknown(ctx, node, now); err != nil {
			return reconcile.Result{}, err
		}
	} else {
		// Come back before the grace period runs out.
		res = reconcile.After(c.cfg.GracePeriod - now.Sub(probe) + time.Second)
	}
	return res, c.syncTaints(ctx, node, now)
}

// markUnknown sets every condition to Unknown, as the agent stopped telling.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	if rc := readyCondition(node); rc != nil && rc.Status == corev1.ConditionUnknown {
		return node, nil
	}
	cp := node.DeepCopy()
	t := metav1.NewTime(now)
	found := false
	for i := range cp.Status.Conditions {
		cond := &cp.Status.Conditions[i]
		if cond.Type == corev1.NodeReady {
			found = true
		}
		if cond.Status == corev1.ConditionUnknown {
			continue
		}
		cond.Status = corev1.ConditionUnknown
		cond.Reason = "NodeStatusUnknown"
		cond.Message = "Kubelet stopped posting node status."
		cond.LastTransitionTime = t
	}
	if !found {
		cp.Status.Conditions = append(cp.Status.Conditions, corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusNeverUpdated",
			Message: "Kubelet never posted node status.", LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: t,
		})
	}
	updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("marking node %s unknown: %w", node.Name, err)
	}
	c.recorder.Eventf(updated, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	return updated, nil
}

// wantedTaint is the condition taint key the Ready condition calls for ("" =
// none).
func wantedTaint(node *corev1.Node) string {
	rc := readyCondition(node)
	switch {
	case rc == nil || rc.Status == corev1.ConditionUnknown:
		return corev1.TaintNodeUnreachable
	case rc.Status == corev1.ConditionFalse:
		return corev1.TaintNodeNotReady
	}
	return ""
}

func (c *Controller) syncTaints(ctx context.Context, node *corev1.Node, now time.Time) error {
	want := wantedTaint(node)
	if readyCondition(node) == nil {
		// A node that never reported is left to its agent for a grace period
		// (markUnknown gives it a condition after that).
		want = ""
		if now.Sub(node.CreationTimestamp.Time) > c.cfg.GracePeriod {
			want = corev1.TaintNodeUnreachable
		}
	}
	var kept []corev1.Taint
	have := map[corev1.TaintEffect]bool{}
	changed := false
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeUnreachable || t.Key == corev1.TaintNodeNotReady {
			if t.Key != want || (t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute) {
				changed = true
				continue
			}
			have[t.Effect] = true
		}
		kept = append(kept, t)
	}
	if want != "" {
		ts := metav1.NewTime(now)
		for _, e := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
			if !have[e] {
				t := corev1.Taint{Key: want, Effect: e}
				if e == corev1.TaintEffectNoExecute {
					t.TimeAdded = &ts
				}
				kept = append(kept, t)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	cp := node.DeepCopy()
	cp.Spec.Taints = kept
	_, err := c.client.CoreV1().Nodes().Update(ctx, cp, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating taints of node %s: %w", node.Name, err)
	}
	if want == "" {
		c.recorder.Eventf(node, corev1.EventTypeNormal, "NodeReady", "Node %s is healthy again: condition taints removed", node.Name)
	} else {
		c.recorder.Eventf(node, corev1.EventTypeWarning, "NodeTainted", "Node %s tainted %s (NoSchedule, NoExecute)", node.Name, want)
	}
	return nil
}
