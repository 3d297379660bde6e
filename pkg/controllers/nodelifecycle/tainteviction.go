package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/reconcile"
)

const podNodeIndex = "taint-eviction-node"

// TaintEviction is the controller that deletes pods from nodes with NoExecute
// taints they do not tolerate (any more).
type TaintEviction struct {
	client     kubernetes.Interface
	podLister  corelisters.PodLister
	podIndexer cache.Indexer
	nodeLister corelisters.NodeLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	recorder   record.EventRecorder
	clock      clock.Clock

	mu sync.Mutex
	// firstSeen times NoExecute taints that carry no timeAdded (a taint a
	// user added by hand), keyed node/key/value.
	firstSeen map[string]time.Time
}

// NewTaintEviction wires the controller to the factory's Pod and Node
// informers.
func NewTaintEviction(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, clk clock.Clock) (*TaintEviction, error) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	pods := factory.Core().V1().Pods()
	nodes := factory.Core().V1().Nodes()
	c := &TaintEviction{
		client:     client,
		podLister:  pods.Lister(),
		podIndexer: pods.Informer().GetIndexer(),
		nodeLister: nodes.Lister(),
		synced:     []cache.InformerSynced{pods.Informer().HasSynced, nodes.Informer().HasSynced},
		queue:      reconcile.NewQueue("tainteviction"),
		recorder:   recorder,
		clock:      clk,
		firstSeen:  map[string]time.Time{},
	}
	err := pods.Informer().AddIndexers(cache.Indexers{podNodeIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	if err != nil {
		return nil, fmt.Errorf("indexing pods by node: %w", err)
	}
	onPod := func(obj any) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			c.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
	pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onPod,
		UpdateFunc: func(_, cur any) { onPod(cur) },
	})
	onNode := func(obj any) {
		n, ok := obj.(*corev1.Node)
		if !ok {
			return
		}
		objs, _ := c.podIndexer.ByIndex(podNodeIndex, n.Name)
		for _, o := range objs {
			onPod(o)
		}
	}
	nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNode,
		UpdateFunc: func(old, cur any) {
			if !taintsEqual(noExecute(old.(*corev1.Node)), noExecute(cur.(*corev1.Node))) {
				onNode(cur)
			}
		},
	})
	return c, nil
}

func noExecute(n *corev1.Node) []corev1.Taint {
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoExecute {
			out = append(out, t)
		}
	}
	return out
}

func taintsEqual(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].MatchTaint(&b[i]) {
			return false
		}
	}
	return true
}

// Run starts workers and blocks until ctx is done.
func (c *TaintEviction) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, "tainteviction", c.queue, workers, c.synced, func(ctx context.Context, key string) (reconcile.Result, error) {
		after, err := c.sync(ctx, key)
		return reconcile.After(after), err
	})
}

// sync evicts the pod if its node's NoExecute taints say so now; otherwise
// it returns how long until they will (0: never).
func (c *TaintEviction) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil || pod.Spec.NodeName == "" {
		return 0, err
	}
	node, err := c.nodeLister.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	taints := noExecute(node)
	if len(taints) == 0 {
		return 0, nil
	}
	unreachable := false
	for _, t := range taints {
		if t.Key == corev1.TaintNodeUnreachable {
			unreachable = true
		}
	}
	if pod.DeletionTimestamp != nil {
		// Already being deleted: on a node nobody runs, finish it.
		if unreachable && (pod.DeletionGracePeriodSeconds == nil || *pod.DeletionGracePeriodSeconds > 0) {
			return 0, c.evict(ctx, pod, true)
		}
		return 0, nil
	}
	now := c.clock.Now()
	var deadline time.Time
	for _, t := range taints {
		secs, tolerated := tolerationSeconds(pod.Spec.Tolerations, &t)
		if !tolerated {
			return 0, c.evict(ctx, pod, unreachable)
		}
		if secs < 0 {
			continue // tolerated forever
		}
		d := c.taintTime(node.Name, &t, now).Add(time.Duration(secs) * time.Second)
		if deadline.IsZero() || d.Before(deadline) {
			deadline = d
		}
	}
	if deadline.IsZero() {
		return 0, nil
	}
	if !now.Before(deadline) {
		return 0, c.evict(ctx, pod, unreachable)
	}
	return deadline.Sub(now), nil
}

// tolerationSeconds: whether some toleration matches the taint, and the
// shortest tolerationSeconds among the matching ones (-1: no limit).
func tolerationSeconds(tols []corev1.Toleration, taint *corev1.Taint) (int64, bool) {
	min := int64(-1)
	matched := false
	for i := range tols {
		if !tols[i].ToleratesTaint(klog.Background(), taint, false) {
			continue
		}
		matched = true
		if tols[i].TolerationSeconds == nil {
			continue
		}
		s := max(*tols[i].TolerationSeconds, 0)
		if min < 0 || s < min {
			min = s
		}
	}
	if !matched {
		return 0, false
	}
	return min, true
}

func (c *TaintEviction) taintTime(node string, t *corev1.Taint, now time.Time) time.Time {
	if t.TimeAdded != nil {
		return t.TimeAdded.Time
	}
	k := node + "/" + t.Key + "/" + t.Value
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.firstSeen[k]; ok {
		return at
	}
	c.firstSeen[k] = now
	return now
}

func (c *TaintEviction) evict(ctx context.Context, pod *corev1.Pod, force bool) error {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}
	if force {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("evicting pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	return nil
}
