package disruption

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"minik8s/pkg/controllers/reconcile"
)

// DeletionTimeout is how long an eviction recorded in a budget's
// status.disruptedPods keeps its pod out of currentHealthy while the pod is
// not yet deleting; after that the pod counts again.
const DeletionTimeout = 2 * time.Minute

// StalePodDisruptionTimeout is how long a pod may carry a DisruptionTarget
// condition from an eviction without being deleted before the condition is
// reset to False.
const StalePodDisruptionTimeout = 2 * time.Minute

// Controller is the PodDisruptionBudget controller.
type Controller struct {
	client    kubernetes.Interface
	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	rcLister  corelisters.ReplicationControllerLister
	rsLister  appslisters.ReplicaSetLister
	dLister   appslisters.DeploymentLister
	ssLister  appslisters.StatefulSetLister
	synced    []cache.InformerSynced

	// For controllers of other kinds, through their scale subresource.
	mapper    apimeta.RESTMapper
	scales    scale.ScalesGetter
	discovery discovery.DiscoveryInterface

	queue      workqueue.TypedRateLimitingInterface[string]
	staleQueue workqueue.TypedRateLimitingInterface[string]
	recorder   record.EventRecorder
	clock      clock.Clock
}

// NewForConfig builds the scale client and REST mapper from rc (discovery
// is cached in memory and refreshed when a kind is not found) and calls New.
func NewForConfig(rc *rest.Config, client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) (*Controller, error) {
	disc := memory.NewMemCacheClient(client.Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(disc)
	scales, err := scale.NewForConfig(rc, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(disc))
	if err != nil {
		return nil, fmt.Errorf("creating scale client: %w", err)
	}
	return New(client, factory, recorder, mapper, scales, disc, clock.RealClock{}), nil
}

// New wires the controller to the factory's PodDisruptionBudget, Pod,
// ReplicationController, ReplicaSet, Deployment and StatefulSet informers;
// mapper, scales and disc serve controllers of any other kind.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder,
	mapper apimeta.RESTMapper, scales scale.ScalesGetter, disc discovery.DiscoveryInterface, clk clock.Clock) *Controller {
	pdbInf := factory.Policy().V1().PodDisruptionBudgets()
	podInf := factory.Core().V1().Pods()
	rcInf := factory.Core().V1().ReplicationControllers()
	rsInf := factory.Apps().V1().ReplicaSets()
	dInf := factory.Apps().V1().Deployments()
	ssInf := factory.Apps().V1().StatefulSets()
	c := &Controller{
		client:     client,
		pdbLister:  pdbInf.Lister(),
		podLister:  podInf.Lister(),
		rcLister:   rcInf.Lister(),
		rsLister:   rsInf.Lister(),
		dLister:    dInf.Lister(),
		ssLister:   ssInf.Lister(),
		mapper:     mapper,
		scales:     scales,
		discovery:  disc,
		queue:      reconcile.NewQueue("disruption"),
		staleQueue: reconcile.NewQueue("disruption-stale-pod"),
		recorder:   recorder,
		clock:      clk,
	}
	c.synced = []cache.InformerSynced{pdbInf.Informer().HasSynced, podInf.Informer().HasSynced,
		rcInf.Informer().HasSynced, rsInf.Informer().HasSynced, dInf.Informer().HasSynced, ssInf.Informer().HasSynced}
	pdbInf.Informer().AddEventHandler(reconcile.EnqueueHandler(c.queue))
	podInf.Informer().AddEventHandler(reconcile.Handler(c.podChanged))
	return c
}

// podChanged wakes the budget that selects the pod, and schedules the reset
// of a DisruptionTarget condition that no deletion followed.
func (c *Controller) podChanged(obj any) {
	pod, ok := reconcile.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	if pdb := c.pdbForPod(pod); pdb != "" {
		c.queue.Add(pdb)
	}
	if _, deleted := obj.(cache.DeletedFinalStateUnknown); deleted {
		return
	}
	if stale, after := c.staleDisruptionCondition(pod); stale {
		c.staleQueue.AddAfter(pod.Namespace+"/"+pod.Name, after)
	}
}

// pdbForPod is the key of the budget selecting pod; when several do, the
// first by name, with upstream's warning on the pod. (The lister's
// GetPodPodDisruptionBudgets would format an error for every pod event of
// a namespace without budgets.)
func (c *Controller) pdbForPod(pod *corev1.Pod) string {
	if len(pod.Labels) == 0 {
		return ""
	}
	all, err := c.pdbLister.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil || len(all) == 0 {
		return ""
	}
	var pdbs []*policyv1.PodDisruptionBudget
	for _, pdb := range all {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		pdbs = append(pdbs, pdb)
	}
	if len(pdbs) == 0 {
		return ""
	}
	if len(pdbs) > 1 {
		slices.SortFunc(pdbs, func(a, b *policyv1.PodDisruptionBudget) int { return strings.Compare(a.Name, b.Name) })
		c.recorder.Event(pod, corev1.EventTypeWarning, "MultiplePodDisruptionBudgets",
			fmt.Sprintf("Pod %q/%q matches multiple PodDisruptionBudgets.  Chose %q arbitrarily.", pod.Namespace, pod.Name, pdbs[0].Name))
	}
	return pdbs[0].Namespace + "/" + pdbs[0].Name
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Go(func() {
		reconcile.Run(ctx, "disruption", c.queue, workers, c.synced, c.sync, reconcile.Quiet(apierrors.IsConflict))
	})
	wg.Go(func() {
		reconcile.Run(ctx, "disruption-stale-pod", c.staleQueue, 1, c.synced, c.syncStalePod, reconcile.Quiet(apierrors.IsConflict))
	})
	wg.Wait()
}
