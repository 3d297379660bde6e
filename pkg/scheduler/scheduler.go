package scheduler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/klog/v2"
	apipod "k8s.io/kubernetes/pkg/api/v1/pod"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"
)

// DefaultSchedulerName is the schedulerName the apiserver defaults pods to.
const DefaultSchedulerName = v1.DefaultSchedulerName

// Bound describes one finished bind call, for observers (benchmarks).
type Bound struct {
	Namespace, Name, Node string
	// Latency is from the decision to the bind call returning.
	Latency time.Duration
	Err     error
}

// Stats are counters since the scheduler started.
type Stats struct {
	Bound         int64 // bind calls that succeeded
	BindErrors    int64 // bind calls that failed
	Unschedulable int64 // attempts that found no node
	Preemptions   int64 // attempts that nominated a node and evicted victims
	Victims       int64 // pods evicted by preemption
	StatusUpdates int64 // PodScheduled=False conditions written
	EventsEmitted int64 // events handed to the broadcaster
	EventsWritten int64 // events written (created, or patched when repeated)
	EventsDropped int64 // events dropped because the queue to the writer was full
	EventsFailed  int64 // events the API rejected or did not answer
}

// Scheduler is the loop around Algorithm: informers feed the Cache and the
// Queue, one goroutine decides, a pool of binders writes.
type Scheduler struct {
	// OnBound, if set before Run, is called by the binder after each bind
	// call (from several goroutines at once).
	OnBound func(Bound)

	client   kubernetes.Interface
	names    map[string]bool
	cache    *Cache
	queue    *Queue
	algo     *Algorithm
	preempt  *Preemption
	factory  informers.SharedInformerFactory
	pods     corelisters.PodLister
	pdbs     policylisters.PodDisruptionBudgetLister
	volumes  volumeListers
	events   record.EventBroadcaster
	recorder record.EventRecorderLogger
	writer   *eventWriter
	// volumeBindTimeout bounds the wait for a pod's claims to be bound.
	volumeBindTimeout time.Duration
	// slots holds one token per bind or status write in flight: the loop
	// takes one before it decides, so a decision is made only when a binder
	// is free to act on it at once (bind latency stays the API's round trip,
	// not a wait in a queue) and at most workers calls run at a time.
	slots    chan struct{}
	wg       sync.WaitGroup // binders and the loop's helpers
	wgEvents sync.WaitGroup // the event writer
	stats    struct {
		bound, bindErrors, unschedulable, preemptions, victims, statusUpdates, eventsEmitted atomic.Int64
	}
}

// New builds a scheduler from a validated config; Run starts it.
func New(client kubernetes.Interface, cfg *Config) *Scheduler {
	s := &Scheduler{
		client:  client,
		names:   map[string]bool{DefaultSchedulerName: true, "minik8s": true},
		cache:   NewCache(cfg.AssumeTTL, nil),
		queue:   NewQueue(nil, cfg.BackoffInitial, cfg.BackoffMax),
		algo:    NewAlgorithm(uint64(time.Now().UnixNano())),
		preempt: NewPreemption(uint64(time.Now().UnixNano())),
		slots:   make(chan struct{}, cfg.Parallelism),

		volumeBindTimeout: cfg.VolumeBindTimeout,
	}
	for _, n := range cfg.SchedulerNames {
		s.names[n] = true
	}
	s.algo.PercentageOfNodesToScore = cfg.PercentageOfNodesToScore
	s.factory = informers.NewSharedInformerFactory(client, 0)
	podInformer := s.factory.Core().V1().Pods().Informer()
	nodeInformer := s.factory.Core().V1().Nodes().Informer()
	_ = podInformer.SetTransform(stripManagedFields)
	_ = nodeInformer.SetTransform(stripManagedFields)
	s.pods = s.factory.Core().V1().Pods().Lister()
	podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.onPod(obj.(*v1.Pod)) },
		UpdateFunc: func(old, obj any) {
			pod := obj.(*v1.Pod)
			if old.(*v1.Pod).Status.NominatedNodeName != "" && pod.Status.NominatedNodeName == "" {
				s.cache.Unnominate(pod.UID) // cleared by us or by another scheduler
			}
			s.onPod(pod)
		},
		DeleteFunc: s.onPodDelete,
	})
	nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			s.cache.SetNode(obj.(*v1.Node))
			s.queue.MoveAllToActive()
		},
		UpdateFunc: func(old, obj any) {
			s.cache.SetNode(obj.(*v1.Node))
			if nodeChangeCouldHelp(old.(*v1.Node), obj.(*v1.Node)) {
				s.queue.MoveAllToActive()
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*v1.Node); ok {
				s.cache.RemoveNode(n.Name)
			}
		},
	})
	// Claims, volumes and classes: a change may let a waiting pod fit.
	wake := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.queue.MoveAllToActive() },
		UpdateFunc: func(_, _ any) { s.queue.MoveAllToActive() },
	}
	for _, inf := range []cache.SharedIndexInformer{
		s.factory.Core().V1().PersistentVolumeClaims().Informer(),
		s.factory.Core().V1().PersistentVolumes().Informer(),
		s.factory.Storage().V1().StorageClasses().Informer(),
	} {
		_ = inf.SetTransform(stripManagedFields)
		inf.AddEventHandler(wake)
	}
	// Preemption counts PodDisruptionBudget violations from their status
	// (the disruption controller's disruptionsAllowed).
	pdbInformer := s.factory.Policy().V1().PodDisruptionBudgets().Informer()
	_ = pdbInformer.SetTransform(stripManagedFields)
	s.pdbs = s.factory.Policy().V1().PodDisruptionBudgets().Lister()
	s.volumes = volumeListers{
		claims:  s.factory.Core().V1().PersistentVolumeClaims().Lister(),
		volumes: s.factory.Core().V1().PersistentVolumes().Lister(),
		classes: s.factory.Storage().V1().StorageClasses().Lister(),
	}
	// Events never slow binding: Eventf hands them to client-go's
	// broadcaster without blocking, and our writer drops (and counts) what
	// the API cannot take in time. See eventWriter.
	s.writer = newEventWriter(client.CoreV1().Events(""), eventQueueLength)
	s.events = record.NewBroadcaster()
	s.recorder = s.events.NewRecorder(scheme.Scheme, v1.EventSource{Component: DefaultSchedulerName}).
		WithLogger(logr.New(newDropCounter(klog.Background().GetSink(), &s.writer.dropped)))
	return s
}

func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

// Stats returns the counters so far.
func (s *Scheduler) Stats() Stats {
	return Stats{
		Bound:         s.stats.bound.Load(),
		BindErrors:    s.stats.bindErrors.Load(),
		Unschedulable: s.stats.unschedulable.Load(),
		Preemptions:   s.stats.preemptions.Load(),
		Victims:       s.stats.victims.Load(),
		StatusUpdates: s.stats.statusUpdates.Load(),
		EventsEmitted: s.stats.eventsEmitted.Load(),
		EventsWritten: s.writer.written.Load(),
		EventsDropped: s.writer.dropped.Load(),
		EventsFailed:  s.writer.failed.Load(),
	}
}

// Cache exposes the scheduler's cache (read-only use: inspection, tests).
func (s *Scheduler) Cache() *Cache { return s.cache }

// PodDisruptionBudgets is the budgets as preemption sees them
// (inspection, tests).
func (s *Scheduler) PodDisruptionBudgets() policylisters.PodDisruptionBudgetLister { return s.pdbs }

// start starts the informers, which keep the cache and the queue current,
// and the event writer, all until ctx is done, and waits for the informers
// to sync.
func (s *Scheduler) start(ctx context.Context) error {
	s.events.StartEventWatcher(s.writer.enqueue)
	s.wgEvents.Go(func() { s.writer.run(ctx) })
	s.factory.Start(ctx.Done())
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("waiting for the %v informer to sync: %w", typ, ctx.Err())
		}
	}
	return nil
}

// stop waits for what start started to end; start's ctx must be done.
func (s *Scheduler) stop() {
	s.factory.Shutdown()
	s.events.Shutdown()
	s.wgEvents.Wait()
}

// schedule decides and binds until ctx is done, then waits for the binds in
// flight. It runs once per Scheduler: the queue closes with ctx.
func (s *Scheduler) schedule(ctx context.Context) {
	s.wg.Go(func() { wait.Until(s.queue.FlushBackoff, 100*time.Millisecond, ctx.Done()) })
	s.wg.Go(func() { wait.Until(func() { s.cache.CleanupExpired() }, time.Second, ctx.Done()) })

	for {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
		}
		key, ok := s.queue.Pop(ctx)
		if !ok {
			break
		}
		if !s.scheduleOne(ctx, key) {
			<-s.slots
		}
	}
	s.wg.Wait()
}

// async runs fn on its own goroutine, giving back the slot the loop took.
func (s *Scheduler) async(fn func()) {
	s.wg.Go(func() {
		defer func() { <-s.slots }()
		fn()
	})
}

// responsible reports whether the pod is ours to place now.
func (s *Scheduler) responsible(pod *v1.Pod) bool {
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || terminal(pod) {
		return false
	}
	name := pod.Spec.SchedulerName
	return name == "" || s.names[name]
}

func terminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

func podKey(pod *v1.Pod) string { return pod.Namespace + "/" + pod.Name }

func (s *Scheduler) onPod(pod *v1.Pod) {
	switch {
	case terminal(pod):
		// A finished pod frees what it requested.
		if _, counted := s.cache.Counted(pod.UID); counted {
			s.cache.RemovePod(pod.UID)
			s.queue.MoveAllToActive()
		}
		s.cache.Unnominate(pod.UID)
		s.queue.Delete(podKey(pod))
	case pod.Spec.NodeName != "":
		s.cache.AddPod(pod)
		s.queue.Delete(podKey(pod))
	case s.responsible(pod):
		if nnn := pod.Status.NominatedNodeName; nnn != "" {
			if cur, ok := s.cache.Nominated(pod.UID); !ok || cur != nnn {
				s.cache.Nominate(NewPodInfo(pod), nnn)
			}
		}
		s.queue.Add(podKey(pod), corev1helpers.PodPriority(pod))
	default:
		s.cache.Unnominate(pod.UID)
		s.queue.Delete(podKey(pod))
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	s.queue.Delete(podKey(pod))
	s.cache.Unnominate(pod.UID)
	if _, counted := s.cache.Counted(pod.UID); counted {
		s.cache.RemovePod(pod.UID)
		s.queue.MoveAllToActive()
	}
}

// nodeChangeCouldHelp: only changes that can make a pod fit wake the
// pending pods, not every status heartbeat.
func nodeChangeCouldHelp(old, cur *v1.Node) bool {
	return old.Spec.Unschedulable != cur.Spec.Unschedulable ||
		!slices.EqualFunc(old.Spec.Taints, cur.Spec.Taints, func(a, b v1.Taint) bool { return a.MatchTaint(&b) && a.Value == b.Value }) ||
		!maps.Equal(old.Labels, cur.Labels) ||
		!maps.EqualFunc(old.Status.Allocatable, cur.Status.Allocatable, func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }) ||
		readyStatus(old) != readyStatus(cur)
}

func readyStatus(n *v1.Node) v1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status
		}
	}
	return v1.ConditionUnknown
}

// scheduleOne decides for one pod and starts the bind or the status write
// (reporting true) on the slot the loop holds.
func (s *Scheduler) scheduleOne(ctx context.Context, key string) bool {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := s.pods.Pods(ns).Get(name)
	if err != nil || !s.responsible(pod) {
		s.queue.Delete(key)
		return false
	}
	if s.cache.IsAssumed(pod.UID) {
		return false // being bound already
	}
	pi := NewPodInfo(pod)
	vols, msg, err := s.volumes.podVolumes(pod)
	if err != nil {
		s.queue.Backoff(key)
		return false
	}
	if msg != "" {
		s.stats.unschedulable.Add(1)
		s.queue.Backoff(key)
		fe := &FitError{NumAllNodes: s.cache.NumNodes(), PreFilterMsg: msg}
		var nominate *string
		post, clear := s.preempt.EvaluateUnresolvable(pi, fe.NumAllNodes)
		if fe.NumAllNodes > 0 {
			fe.PostFilterMsg = post
			if clear {
				s.cache.Unnominate(pod.UID)
				nominate = new(string)
			}
		}
		msg = fe.Error()
		s.async(func() { s.reportUnschedulable(ctx, pod, msg, nominate) })
		return true
	}
	pi.Volumes = vols
	decided := time.Now()
	node, err := s.cache.Decide(pi, func(nodes []*NodeInfo) (string, error) { return s.algo.Schedule(pi, nodes) })
	if err != nil {
		s.stats.unschedulable.Add(1)
		s.queue.Backoff(key)
		var plan *Plan
		var nominate *string // nil: leave status.nominatedNodeName as it is
		if fe := (*FitError)(nil); errors.As(err, &fe) && fe.PreFilterMsg == "" {
			var clear bool
			plan, fe.PostFilterMsg, clear = s.postFilter(pi)
			switch {
			case plan != nil:
				nominate = &plan.NodeName
			case clear:
				nominate = new(string)
			}
		}
		msg := err.Error()
		s.async(func() {
			if plan != nil {
				s.evict(ctx, pod, plan)
			}
			s.reportUnschedulable(ctx, pod, msg, nominate)
		})
		return true
	}
	s.async(func() { s.bind(ctx, pod, node, decided, vols) })
	return true
}

func (s *Scheduler) bind(ctx context.Context, pod *v1.Pod, node string, decided time.Time, vols *PodVolumes) {
	if !s.bindVolumes(ctx, pod, node, vols) {
		return
	}
	b := &v1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     v1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: node},
	}
	// The Binding goes in protobuf, as client-go's generated methods send
	// built-in types (unless the config names a content type): its
	// hand-written Pods().Bind sends JSON, which cost both ends several
	// times as much CPU per bind.
	err := s.client.CoreV1().RESTClient().Post().UseProtobufAsDefault().
		Namespace(pod.Namespace).Resource("pods").Name(pod.Name).SubResource("binding").
		Body(b).Do(ctx).Error()
	if s.OnBound != nil {
		s.OnBound(Bound{Namespace: pod.Namespace, Name: pod.Name, Node: node, Latency: time.Since(decided), Err: err})
	}
	key := podKey(pod)
	if err != nil {
		s.stats.bindErrors.Add(1)
		s.cache.Forget(pod.UID)
		if apierrors.IsNotFound(err) || ctx.Err() != nil {
			s.queue.Delete(key)
			return
		}
		// Level-triggered: the retry reads the pod again and skips it if it
		// got bound after all.
		s.queue.Backoff(key)
		s.stats.eventsEmitted.Add(1)
		s.recorder.Eventf(pod, v1.EventTypeWarning, "FailedScheduling", "Binding rejected: %v", err)
		return
	}
	s.stats.bound.Add(1)
	s.cache.FinishBinding(pod.UID)
	s.queue.Forget(key)
	s.stats.eventsEmitted.Add(1)
	s.recorder.Eventf(pod, v1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
}

// bindVolumes binds the pod's claims that wait for its node, reporting
// whether the pod may be bound; if not, the pod is tried again later.
func (s *Scheduler) bindVolumes(ctx context.Context, pod *v1.Pod, node string, vols *PodVolumes) bool {
	if vols == nil || len(vols.Delayed) == 0 {
		return true
	}
	ni, ok := s.cache.Node(node)
	err := errors.New("node " + node + " is gone")
	if ok {
		err = bindVolumes(ctx, s.client, s.volumes, vols, ni.Node, s.volumeBindTimeout)
	}
	if err == nil {
		return true
	}
	s.stats.bindErrors.Add(1)
	s.cache.Forget(pod.UID)
	key := podKey(pod)
	if ctx.Err() != nil {
		s.queue.Delete(key)
		return false
	}
	s.queue.Backoff(key)
	s.reportUnschedulable(ctx, pod, fmt.Sprintf("running PreBind plugin \"VolumeBinding\": binding volumes: %v", err), nil)
	return false
}

// postFilter runs preemption for a pod that fits nowhere (see Preemption):
// a plan to carry out, or nil; the message for the FitError; whether the
// pod's nomination no longer holds. The pod is nominated in the cache at
// once, so that the next decisions leave its room alone.
func (s *Scheduler) postFilter(pi *PodInfo) (plan *Plan, msg string, clear bool) {
	pdbs, err := s.pdbs.List(labels.Everything())
	if err != nil {
		return nil, "preemption: " + err.Error(), false
	}
	plan = s.cache.Preempt(pi, func(nodes []*NodeInfo, view PodView) *Plan {
		var p *Plan
		p, msg, clear = s.preempt.Evaluate(pi, nodes, view, pdbs, time.Now())
		return p
	})
	if clear {
		s.cache.Unnominate(pi.Pod.UID)
	}
	if plan != nil {
		s.stats.preemptions.Add(1)
	}
	return plan, msg, clear
}

// evict carries out a preemption plan as upstream's executor does: each
// victim not already terminating gets the DisruptionTarget condition
// (reason PreemptionByScheduler), is deleted (gracefully) and gets a
// Preempted event; pods of lower priority nominated for the node lose
// their nominatedNodeName. Errors are logged: the preemptor is tried
// again and preempts again if it still has to.
func (s *Scheduler) evict(ctx context.Context, preemptor *v1.Pod, plan *Plan) {
	logger := klog.FromContext(ctx)
	schedulerName := preemptor.Spec.SchedulerName
	if schedulerName == "" {
		schedulerName = DefaultSchedulerName
	}
	for _, victim := range plan.Victims {
		if victim.DeletionTimestamp != nil {
			continue
		}
		cond := &v1.PodCondition{
			Type:               v1.DisruptionTarget,
			ObservedGeneration: apipod.CalculatePodConditionObservedGeneration(&victim.Status, victim.Generation, v1.DisruptionTarget),
			Status:             v1.ConditionTrue,
			Reason:             v1.PodReasonPreemptionByScheduler,
			Message:            schedulerName + ": preempting to accommodate a higher priority pod",
		}
		status := victim.Status.DeepCopy()
		if apipod.UpdatePodCondition(status, cond) {
			if err := schedutil.PatchPodStatus(ctx, s.client, victim.Name, victim.Namespace, &victim.Status, status); err != nil {
				if !apierrors.IsNotFound(err) {
					logger.Error(err, "Could not add DisruptionTarget condition due to preemption", "preemptor", klog.KObj(preemptor), "victim", klog.KObj(victim))
					s.cache.Unpreempted(victim.UID)
				}
				continue
			}
		}
		if err := schedutil.DeletePod(ctx, s.client, victim); err != nil {
			if !apierrors.IsNotFound(err) {
				logger.Error(err, "Tried to preempt pod", "pod", klog.KObj(victim), "preemptor", klog.KObj(preemptor))
				s.cache.Unpreempted(victim.UID)
			}
			continue
		}
		s.stats.victims.Add(1)
		logger.V(2).Info("Preemptor Pod preempted victim Pod", "preemptor", klog.KObj(preemptor), "victim", klog.KObj(victim), "node", plan.NodeName)
		s.stats.eventsEmitted.Add(1)
		s.recorder.Eventf(victim, v1.EventTypeNormal, "Preempted", "Preempted by pod %v on node %v", preemptor.UID, plan.NodeName)
	}
	for _, p := range plan.Unnominated {
		if p.Status.NominatedNodeName == "" {
			continue
		}
		status := p.Status.DeepCopy()
		status.NominatedNodeName = ""
		if err := schedutil.PatchPodStatus(ctx, s.client, p.Name, p.Namespace, &p.Status, status); err != nil && !apierrors.IsNotFound(err) {
			logger.Error(err, "Cannot clear 'NominatedNodeName' field", "pod", klog.KObj(p), "node", plan.NodeName)
		}
	}
}

// reportUnschedulable records a FailedScheduling event and sets
// PodScheduled=False/Unschedulable (and status.nominatedNodeName, unless
// nominate is nil), writing status only if it changed.
func (s *Scheduler) reportUnschedulable(ctx context.Context, pod *v1.Pod, msg string, nominate *string) {
	s.stats.eventsEmitted.Add(1)
	s.recorder.Event(pod, v1.EventTypeWarning, "FailedScheduling", msg)
	cur, err := s.pods.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || cur.UID != pod.UID || cur.Spec.NodeName != "" {
		return
	}
	// As upstream's scheduler with PodObservedGenerationTracking: the
	// condition says which generation of the pod it judged.
	want := v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse, Reason: v1.PodReasonUnschedulable, Message: msg,
		ObservedGeneration: cur.Generation}
	var old *v1.PodCondition
	for i := range cur.Status.Conditions {
		if cur.Status.Conditions[i].Type == v1.PodScheduled {
			old = &cur.Status.Conditions[i]
		}
	}
	nominationChanged := nominate != nil && *nominate != cur.Status.NominatedNodeName
	if old != nil && old.Status == want.Status && old.Reason == want.Reason && old.Message == want.Message && old.ObservedGeneration == want.ObservedGeneration && !nominationChanged {
		return
	}
	cp := cur.DeepCopy()
	if nominate != nil {
		cp.Status.NominatedNodeName = *nominate
	}
	now := metav1.Now()
	want.LastProbeTime = now
	want.LastTransitionTime = now
	if old != nil && old.Status == want.Status {
		want.LastTransitionTime = old.LastTransitionTime
	}
	replaced := false
	for i := range cp.Status.Conditions {
		if cp.Status.Conditions[i].Type == v1.PodScheduled {
			cp.Status.Conditions[i] = want
			replaced = true
		}
	}
	if !replaced {
		cp.Status.Conditions = append(cp.Status.Conditions, want)
	}
	if _, err := s.client.CoreV1().Pods(cp.Namespace).UpdateStatus(ctx, cp, metav1.UpdateOptions{}); err != nil {
		// A conflict means the pod changed; the next attempt writes again.
		klog.FromContext(ctx).V(2).Info("writing unschedulable status", "pod", klog.KObj(pod), "err", err)
		return
	}
	s.stats.statusUpdates.Add(1)
}
