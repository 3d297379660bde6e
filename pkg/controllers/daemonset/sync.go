package daemonset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"minik8s/pkg/controllers/reconcile"
)

// sync reconciles one DaemonSet from the cache.
func (c *Controller) sync(ctx context.Context, k string) (reconcile.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return reconcile.Result{}, nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Delete(k)
		return reconcile.Result{}, nil
	}
	if err != nil {
		return reconcile.Result{}, err
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return reconcile.Result{}, err
	}
	if ds.Spec.Selector == nil || (len(ds.Spec.Selector.MatchLabels) == 0 && len(ds.Spec.Selector.MatchExpressions) == 0) {
		c.recorder.Event(ds, corev1.EventTypeWarning, SelectingAllReason, "This daemon set is selecting all pods. A non-empty selector is required.")
		return reconcile.Result{}, nil
	}
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "InvalidSelector", "invalid selector: %v", err)
		return reconcile.Result{}, nil
	}
	// Whether the pods and revisions of a DaemonSet being deleted still
	// exist is up to the garbage collector: its status cannot be computed.
	if ds.DeletionTimestamp != nil {
		return reconcile.Result{}, nil
	}
	cur, old, err := c.constructHistory(ctx, ds, selector)
	if err != nil {
		return reconcile.Result{}, fmt.Errorf("constructing revisions of daemonset %s: %w", k, err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	pods, err := c.daemonPods(ctx, ds, selector)
	if err != nil {
		return reconcile.Result{}, err
	}
	if !c.exp.Satisfied(k) {
		// Status only; observedGeneration stays, this generation was not
		// acted upon.
		return c.updateStatus(ctx, ds, nodes, byNode(pods, false), hash, false)
	}
	res, err := c.update(ctx, ds, nodes, pods, hash, old)
	statusRes, statusErr := c.updateStatus(ctx, ds, nodes, byNode(pods, false), hash, true)
	if err := errors.Join(err, statusErr); err != nil {
		return reconcile.Result{}, err
	}
	return res.Sooner(statusRes.RequeueAfter), nil
}

// update creates and deletes pods so that every eligible node runs one,
// then rolls outdated pods and prunes old revisions.
func (c *Controller) update(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, old []*appsv1.ControllerRevision) (reconcile.Result, error) {
	res, err := c.manage(ctx, ds, nodes, byNode(pods, false), hash)
	if err != nil {
		return reconcile.Result{}, err
	}
	if c.exp.Satisfied(key(ds)) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if err := c.rollingUpdate(ctx, ds, nodes, byNode(pods, false), hash); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := c.cleanupHistory(ctx, ds, byNode(pods, true), old); err != nil {
		return reconcile.Result{}, fmt.Errorf("cleaning up revisions of daemonset %s: %w", key(ds), err)
	}
	return res, nil
}

// byNode groups pods by the node they are for. Unless includeDeletedTerminal,
// pods that finished and are being deleted are left out: nothing is left to
// do with them.
func byNode(pods []*corev1.Pod, includeDeletedTerminal bool) map[string][]*corev1.Pod {
	out := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if !includeDeletedTerminal && p.DeletionTimestamp != nil &&
			(p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) {
			continue
		}
		node, err := targetNode(p)
		if err != nil {
			continue
		}
		out[node] = append(out[node], p)
	}
	return out
}

// manage creates a pod on each eligible node without one and deletes the
// pods that failed, finished, are surplus, or sit where they no longer
// belong. Its Result is when a failed pod's back-off ends.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) (reconcile.Result, error) {
	pl := newPlacement(ds)
	var create, del []string
	var res reconcile.Result
	for _, node := range nodes {
		cr, d, backoff := c.podsShouldBeOnNode(node, nodeToPods, ds, hash, pl)
		create = append(create, cr...)
		del = append(del, d...)
		res = res.Sooner(backoff)
	}
	// Pods pinned to a node that no longer exists are never scheduled, so
	// the pod garbage collector never sees them: delete them here.
	exists := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		exists[n.Name] = true
	}
	for node, pods := range nodeToPods {
		if exists[node] {
			continue
		}
		for _, p := range pods {
			if p.Spec.NodeName == "" {
				del = append(del, p.Name)
			}
		}
	}
	return res, c.syncNodes(ctx, ds, del, create, hash)
}

// podsShouldBeOnNode says which pods to create on node and which of its
// pods to delete; backoff, when positive, is how long until a failed pod
// there may be replaced.
func (c *Controller) podsShouldBeOnNode(node *corev1.Node, nodeToPods map[string][]*corev1.Pod, ds *appsv1.DaemonSet, hash string, pl placement) (create, del []string, backoff time.Duration) {
	shouldRun, shouldContinue := pl.shouldRun(node)
	pods, exists := nodeToPods[node.Name]
	switch {
	case shouldRun && !exists:
		create = append(create, node.Name)
	case shouldContinue:
		var running []*corev1.Pod
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			switch p.Status.Phase {
			case corev1.PodFailed:
				// The kubelet may keep rejecting the pod: back off per
				// node and generation instead of fighting it.
				bk := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node.Name)
				now := c.backoff.Clock.Now()
				if c.backoff.IsInBackOffSinceUpdate(bk, now) {
					if d := c.backoff.Get(bk); backoff <= 0 || d < backoff {
						backoff = d
					}
					continue
				}
				c.backoff.Next(bk, now)
				c.recorder.Eventf(ds, corev1.EventTypeWarning, FailedDaemonPodReason,
					"Found failed daemon pod %s/%s on node %s, will try to kill it", p.Namespace, p.Name, node.Name)
				del = append(del, p.Name)
			case corev1.PodSucceeded:
				c.recorder.Eventf(ds, corev1.EventTypeNormal, SucceededDaemonPodReason,
					"Found succeeded daemon pod %s/%s on node %s, will try to delete it", p.Namespace, p.Name, node.Name)
				del = append(del, p.Name)
			default:
				running = append(running, p)
			}
		}
		if !allowsSurge(ds) {
			// One pod per node: keep the oldest.
			if len(running) > 1 {
				sort.Sort(byCreationAndPhase(running))
				for _, p := range running[1:] {
					del = append(del, p.Name)
				}
			}
			break
		}
		if len(running) <= 1 {
			if len(running) == 0 && shouldRun {
				create = append(create, node.Name)
			}
			break
		}
		// Surging: keep the oldest new pod and, while that one is not
		// yet available and the old one is ready, the oldest old pod.
		var oldestNew, oldestOld *corev1.Pod
		sort.Sort(byCreationAndPhase(running))
		for _, p := range running {
			if p.Labels[appsv1.ControllerRevisionHashLabelKey] == hash {
				if oldestNew == nil {
					oldestNew = p
					continue
				}
			} else if oldestOld == nil {
				oldestOld = p
				continue
			}
			del = append(del, p.Name)
		}
		if oldestNew != nil && oldestOld != nil {
			if !podReady(oldestOld) || podAvailable(oldestNew, ds.Spec.MinReadySeconds, c.clock.Now()) {
				del = append(del, oldestOld.Name)
			}
		}
	case !shouldContinue && exists:
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				del = append(del, p.Name)
			}
		}
	}
	return create, del, backoff
}

// syncNodes deletes the named pods and creates a pod for each of the named
// nodes, at most c.burst of each, expecting to see all of it in the cache.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, podsToDelete, nodesNeedingPods []string, hash string) error {
	k := key(ds)
	if len(podsToDelete) > c.burst {
		podsToDelete = podsToDelete[:c.burst]
	}
	if len(nodesNeedingPods) > c.burst {
		nodesNeedingPods = nodesNeedingPods[:c.burst]
	}
	if len(podsToDelete) == 0 && len(nodesNeedingPods) == 0 {
		return nil
	}
	delKeys := make([]string, len(podsToDelete))
	for i, name := range podsToDelete {
		delKeys[i] = ds.Namespace + "/" + name
	}
	c.exp.ExpectCreations(k, len(nodesNeedingPods))
	c.exp.ExpectDeletions(k, delKeys)

	template := podTemplate(ds, hash)
	var (
		mu   sync.Mutex
		errs []error
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// Slow start: batches of 1, 2, 4, … so that a template the API rejects
	// costs one failed request, not one per node.
	for pos, batch := 0, 1; pos < len(nodesNeedingPods); pos, batch = pos+batch, 2*batch {
		batch = min(batch, len(nodesNeedingPods)-pos)
		before := len(errs)
		var wg sync.WaitGroup
		for _, node := range nodesNeedingPods[pos : pos+batch] {
			wg.Go(func() {
				if err := c.createPod(ctx, ds, template, node); err != nil {
					c.exp.CreationObserved(k)
					fail(err)
				}
			})
		}
		wg.Wait()
		if len(errs) > before {
			// The pods never attempted will never be observed.
			for range len(nodesNeedingPods) - pos - batch {
				c.exp.CreationObserved(k)
			}
			break
		}
	}
	var wg sync.WaitGroup
	for i, name := range podsToDelete {
		wg.Go(func() {
			err := c.client.CoreV1().Pods(ds.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
			if err == nil {
				c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", name)
				return
			}
			c.exp.DeletionObserved(k, delKeys[i])
			if !apierrors.IsNotFound(err) {
				c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				fail(fmt.Errorf("deleting pod %s/%s: %w", ds.Namespace, name, err))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// podTemplate is the DaemonSet's template with the default tolerations and
// the pod-template-generation and controller-revision-hash labels.
func podTemplate(ds *appsv1.DaemonSet, hash string) *corev1.PodTemplateSpec {
	t := ds.Spec.Template.DeepCopy()
	t.Spec.Tolerations = withDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if gen, ok := templateGeneration(ds); ok {
		t.Labels[extensionsv1beta1.DaemonSetTemplateGenerationKey] = fmt.Sprint(gen)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

// templateGeneration is the apiserver's count of template changes, kept in
// the deprecated.daemonset.template.generation annotation.
func templateGeneration(ds *appsv1.DaemonSet) (int64, bool) {
	v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return 0, false
	}
	var gen int64
	if _, err := fmt.Sscan(v, &gen); err != nil {
		return 0, false
	}
	return gen, true
}

// podUpdated: the pod carries the current revision's hash or template
// generation.
func podUpdated(ds *appsv1.DaemonSet, pod *corev1.Pod, hash string) bool {
	if hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	gen, ok := templateGeneration(ds)
	return ok && pod.Labels[extensionsv1beta1.DaemonSetTemplateGenerationKey] == fmt.Sprint(gen)
}

func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) error {
	t := template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: t.Spec,
	}
	// The scheduler places the pod, on this node only.
	pod.Spec.Affinity = pinToNode(pod.Spec.Affinity, node)
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return fmt.Errorf("creating pod for node %s: %w", node, err)
	}
	c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

// byCreationAndPhase orders scheduled pods first, then oldest first.
type byCreationAndPhase []*corev1.Pod

func (o byCreationAndPhase) Len() int      { return len(o) }
func (o byCreationAndPhase) Swap(i, j int) { o[i], o[j] = o[j], o[i] }
func (o byCreationAndPhase) Less(i, j int) bool {
	if (o[i].Spec.NodeName != "") != (o[j].Spec.NodeName != "") {
		return o[i].Spec.NodeName != ""
	}
	if o[i].CreationTimestamp.Equal(&o[j].CreationTimestamp) {
		return o[i].Name < o[j].Name
	}
	return o[i].CreationTimestamp.Before(&o[j].CreationTimestamp)
}

// daemonPods returns the pods ds owns after adopting matching orphans and
// releasing owned pods that no longer match.
func (c *Controller) daemonPods(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	objs := make([]metav1.Object, len(all))
	for i, p := range all {
		objs[i] = p
	}
	claimed, err := c.claim(ctx, ds, sel, objs, func(ctx context.Context, name string, patch []byte) error {
		_, err := c.client.CoreV1().Pods(ds.Namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	out := make([]*corev1.Pod, len(claimed))
	for i, o := range claimed {
		out[i] = o.(*corev1.Pod)
	}
	return out, err
}

// claim is upstream's ClaimObject over objs: objects ds controls and its
// selector matches are its; owned ones that stopped matching are released;
// matching orphans are adopted once a fresh read shows ds still alive.
func (c *Controller) claim(ctx context.Context, ds *appsv1.DaemonSet, sel labels.Selector, objs []metav1.Object,
	patch func(ctx context.Context, name string, patch []byte) error) ([]metav1.Object, error) {
	var (
		claimed  []metav1.Object
		errs     []error
		canAdopt *bool
	)
	for _, o := range objs {
		ref := metav1.GetControllerOfNoCopy(o)
		matches := sel.Matches(labels.Set(o.GetLabels()))
		if ref != nil {
			if ref.UID != ds.UID {
				continue
			}
			if matches {
				claimed = append(claimed, o)
				continue
			}
			if ds.DeletionTimestamp != nil {
				continue
			}
			p, _ := json.Marshal(map[string]any{"metadata": map[string]any{
				"ownerReferences": []map[string]any{{"$patch": "delete", "uid": ds.UID}},
				"uid":             o.GetUID(),
			}})
			if err := patch(ctx, o.GetName(), p); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsInvalid(err) {
				errs = append(errs, err)
			}
			continue
		}
		if !matches || ds.DeletionTimestamp != nil || o.GetDeletionTimestamp() != nil {
			continue
		}
		if canAdopt == nil {
			ok, err := c.stillAlive(ctx, ds)
			if err != nil {
				return nil, err
			}
			canAdopt = &ok
		}
		if !*canAdopt {
			continue
		}
		p, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"ownerReferences": []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
			"uid":             o.GetUID(),
		}})
		if err := patch(ctx, o.GetName(), p); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		claimed = append(claimed, o)
	}
	return claimed, errors.Join(errs...)
}

// stillAlive re-reads ds before adopting: a DaemonSet that was deleted (or
// recreated under the same name) must not take pods or revisions.
func (c *Controller) stillAlive(ctx context.Context, ds *appsv1.DaemonSet) (bool, error) {
	fresh, err := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fresh.UID == ds.UID && fresh.DeletionTimestamp == nil, nil
}

func readyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func podReady(pod *corev1.Pod) bool {
	c := readyCondition(pod)
	return c != nil && c.Status == corev1.ConditionTrue
}

// podAvailable: ready for at least minReadySeconds.
func podAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(pod)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(d).Before(now)
}

// updateStatus writes the counts observed on nodes through /status when
// they changed, retrying once on a conflict with a fresh copy.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, observedGen bool) (reconcile.Result, error) {
	var s appsv1.DaemonSetStatus
	now := c.clock.Now()
	pl := newPlacement(ds)
	for _, node := range nodes {
		shouldRun, _ := pl.shouldRun(node)
		pods := nodeToPods[node.Name]
		if !shouldRun {
			if len(pods) > 0 {
				s.NumberMisscheduled++
			}
			continue
		}
		s.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		s.CurrentNumberScheduled++
		sorted := append([]*corev1.Pod(nil), pods...)
		sort.Sort(byCreationAndPhase(sorted))
		pod := sorted[0]
		if podReady(pod) {
			s.NumberReady++
			if podAvailable(pod, ds.Spec.MinReadySeconds, now) {
				s.NumberAvailable++
			}
		}
		if podUpdated(ds, pod, hash) {
			s.UpdatedNumberScheduled++
		}
	}
	s.NumberUnavailable = s.DesiredNumberScheduled - s.NumberAvailable
	// A resync after minReadySeconds: pods becoming available is no
	// event.
	var res reconcile.Result
	if ds.Spec.MinReadySeconds > 0 && s.NumberReady != s.NumberAvailable {
		res = reconcile.After(time.Duration(ds.Spec.MinReadySeconds) * time.Second)
	}
	cur := ds.Status
	if cur.DesiredNumberScheduled == s.DesiredNumberScheduled && cur.CurrentNumberScheduled == s.CurrentNumberScheduled &&
		cur.NumberMisscheduled == s.NumberMisscheduled && cur.NumberReady == s.NumberReady &&
		cur.UpdatedNumberScheduled == s.UpdatedNumberScheduled && cur.NumberAvailable == s.NumberAvailable &&
		cur.NumberUnavailable == s.NumberUnavailable && cur.ObservedGeneration >= ds.Generation {
		return res, nil
	}
	client := c.client.AppsV1().DaemonSets(ds.Namespace)
	toUpdate := ds.DeepCopy()
	for attempt := 0; ; attempt++ {
		if observedGen {
			toUpdate.Status.ObservedGeneration = ds.Generation
		}
		toUpdate.Status.DesiredNumberScheduled = s.DesiredNumberScheduled
		toUpdate.Status.CurrentNumberScheduled = s.CurrentNumberScheduled
		toUpdate.Status.NumberMisscheduled = s.NumberMisscheduled
		toUpdate.Status.NumberReady = s.NumberReady
		toUpdate.Status.UpdatedNumberScheduled = s.UpdatedNumberScheduled
		toUpdate.Status.NumberAvailable = s.NumberAvailable
		toUpdate.Status.NumberUnavailable = s.NumberUnavailable
		_, err := client.UpdateStatus(ctx, toUpdate, metav1.UpdateOptions{})
		if err == nil {
			return res, nil
		}
		if attempt > 0 {
			return reconcile.Result{}, fmt.Errorf("updating status of daemonset %s: %w", key(ds), err)
		}
		if toUpdate, err = client.Get(ctx, ds.Name, metav1.GetOptions{}); err != nil {
			return reconcile.Result{}, fmt.Errorf("updating status of daemonset %s: %w", key(ds), err)
		}
	}
}
