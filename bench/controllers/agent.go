package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// jobNameLabel marks the pods of a Job (batch.kubernetes.io/job-name).
const jobNameLabel = "batch.kubernetes.io/job-name"

// agent stands in for the node agents of all fake nodes: it binds each
// unscheduled pod (to the node a DaemonSet pod's affinity names, else
// round-robin over nodes), reports it Running/Ready, or Succeeded for a
// Job's pod, and finishes graceful deletions.
type agent struct {
	client  kubernetes.Interface
	nodes   []string
	next    atomic.Int64
	factory informers.SharedInformerFactory
	indexer cache.Indexer
	queue   workqueue.TypedRateLimitingInterface[string]
}

func newAgent(client kubernetes.Interface, nodes []string) *agent {
	f := informers.NewSharedInformerFactory(client, 0)
	a := &agent{client: client, nodes: nodes, factory: f,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())}
	inf := f.Core().V1().Pods().Informer()
	a.indexer = inf.GetIndexer()
	enqueue := func(obj any) {
		if k, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(k)
		}
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) }})
	return a
}

func (a *agent) pods(ns string) []*corev1.Pod {
	objs, _ := a.indexer.ByIndex(cache.NamespaceIndex, ns)
	pods := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		pods = append(pods, o.(*corev1.Pod))
	}
	return pods
}

// live counts the pods of namespace ns not being deleted.
func (a *agent) live(ns string) int {
	n := 0
	for _, p := range a.pods(ns) {
		if p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

// ready counts the ready pods of namespace ns not being deleted.
func (a *agent) ready(ns string) int {
	n := 0
	for _, p := range a.pods(ns) {
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
	obj, ok, err := a.indexer.GetByKey(key)
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
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	if pod.Spec.NodeName == "" {
		node := affinityNode(pod)
		if node == "" {
			node = a.nodes[int(a.next.Add(1))%len(a.nodes)]
		}
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
		if isNotFound(err) {
			return nil
		}
		return err
		// The bound pod comes back through the informer.
	}
	if isReady(pod) {
		return nil
	}
	i := a.next.Add(1)
	now := metav1.Now()
	pod.Status.PodIP = fmt.Sprintf("10.244.%d.%d", i/250%250, 1+i%250)
	pod.Status.PodIPs = []corev1.PodIP{{IP: pod.Status.PodIP}}
	pod.Status.StartTime = &now
	if _, ok := pod.Labels[jobNameLabel]; ok {
		// A Job's pod runs to completion at once: exit code 0.
		pod.Status.Phase = corev1.PodSucceeded
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now},
		}
		for _, c := range pod.Spec.Containers {
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
			})
		}
	} else {
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	}
	_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if isNotFound(err) {
		return nil
	}
	return err
}

// affinityNode is the node a DaemonSet pod is pinned to: the value of a
// required node affinity term matchFields metadata.name In [node].
func affinityNode(p *corev1.Pod) string {
	aff := p.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, t := range aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range t.MatchFields {
			if r.Key == "metadata.name" && r.Operator == corev1.NodeSelectorOpIn && len(r.Values) == 1 {
				return r.Values[0]
			}
		}
	}
	return ""
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
