//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// chaosTargets are the lab's processes the chaos test kills: the control
// plane, every node agent and the lab's containerd. The supervisor
// restarts each.
var chaosTargets = []string{"apiserver", "controller-manager", "scheduler", "kubelet-node1", "kubelet-node2", "kubelet-node3", "containerd"}

// chaosInvariants watches the pods of the Deployment under test and
// records every broken invariant: more live pods than the step allows,
// and a pod whose node changed once bound.
type chaosInvariants struct {
	limit      atomic.Int32 // live pods allowed now
	mu         sync.Mutex
	violations []string
	maxLive    int
}

func (c *chaosInvariants) violate(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.violations) < 20 {
		c.violations = append(c.violations, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

// live counts the pods not terminating and not finished.
func live(store cache.Store) int {
	n := 0
	for _, o := range store.List() {
		p := o.(*corev1.Pod)
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			n++
		}
	}
	return n
}

// TestChaos: while a Deployment scales 0 → 30 → 5 and rolls twice (and
// again, up to six times, until two minutes have passed), a process of
// the lab is killed (SIGKILL) at random every 2–5 s. Then the
// Deployment converges to its spec, no step ever had more live pods than
// its replicas plus maxSurge, no pod moved to another node once bound,
// every object whose create was acknowledged is there, and every
// component runs again under the supervisor. The kills, the seed and the
// convergence time after the last kill are logged.
func TestChaos(t *testing.T) {
	ns := namespace(t)
	ctx, cancel := context.WithCancel(context.Background())
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	var inv chaosInvariants
	inv.limit.Store(1) // replicas 0 + maxSurge 1
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = "app=chaos" }))
	pods := factory.Core().V1().Pods().Informer()
	check := func() {
		n := live(pods.GetStore())
		inv.mu.Lock()
		inv.maxLive = max(inv.maxLive, n)
		inv.mu.Unlock()
		if lim := int(inv.limit.Load()); n > lim {
			inv.violate("%d live pods, at most %d allowed", n, lim)
		}
	}
	pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { check() },
		UpdateFunc: func(oldObj, newObj any) {
			o, n := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			if o.Spec.NodeName != "" && n.Spec.NodeName != o.Spec.NodeName {
				inv.violate("pod %s moved from %s to %s", n.Name, o.Spec.NodeName, n.Spec.NodeName)
			}
			check()
		},
		DeleteFunc: func(any) { check() },
	})
	factory.Start(ctx.Done())

	d := exampleDeployment(t)
	d.Name = "chaos"
	d.Labels = map[string]string{"app": "chaos"}
	d.Spec.Selector.MatchLabels = map[string]string{"app": "chaos"}
	d.Spec.Template.Labels = map[string]string{"app": "chaos"}
	d.Spec.Replicas = ptr(int32(0))
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptr(int64(2))
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
		MaxSurge: ptr(intstr.FromInt32(1)), MaxUnavailable: ptr(intstr.FromInt32(0)),
	}}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Objects whose create the apiserver acknowledged: each must survive.
	var acked []string
	var ackMu sync.Mutex
	var bg sync.WaitGroup
	chaosCtx, stopChaos := context.WithCancel(ctx)
	// On any exit: the killer and the writer stop, then the informer.
	defer func() {
		stopChaos()
		bg.Wait()
		cancel()
		factory.Shutdown()
	}()
	home, _ := os.UserHomeDir()
	t.Cleanup(func() {
		if t.Failed() {
			st, _ := ctl("lab", "status")
			t.Logf("lab status:\n%s", st)
			for _, c := range []string{"supervisor", "apiserver"} {
				out, _ := ctl("lab", "logs", c)
				t.Logf("%s log (end):\n%s", c, tailLines(out, 40))
			}
			// The pods not Ready, and every log kept past lab down.
			list, _ := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=chaos"})
			for _, p := range list.Items {
				if p.DeletionTimestamp == nil && !podReady(&p) {
					t.Logf("not Ready: %s on %s, ip %s, phase %s; %s", p.Name, p.Spec.NodeName, p.Status.PodIP, p.Status.Phase, containerStates(&p))
				}
			}
			keep := filepath.Join(os.TempDir(), fmt.Sprintf("minik8s-chaos-%d", seed))
			if out, err := exec.Command("cp", "-a", filepath.Join(home, ".minik8s", "lab", "logs"), keep).CombinedOutput(); err != nil {
				t.Logf("keeping the lab's logs: %v %s", err, out)
			} else {
				t.Logf("the lab's logs are kept in %s", keep)
			}
		}
	})
	bg.Go(func() {
		for i := 0; chaosCtx.Err() == nil; i++ {
			name := fmt.Sprintf("ack-%d", i)
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"i": strconv.Itoa(i)}}
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(chaosCtx, cm, metav1.CreateOptions{}); err == nil {
				ackMu.Lock()
				acked = append(acked, name)
				ackMu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	// The killer.
	run := filepath.Join(home, ".minik8s", "lab", "run")
	kills := map[string]int{}
	var lastKill time.Time
	var killMu sync.Mutex
	bg.Go(func() {
		for {
			select {
			case <-chaosCtx.Done():
				return
			case <-time.After(2*time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))):
			}
			target := chaosTargets[rng.IntN(len(chaosTargets))]
			b, err := os.ReadFile(filepath.Join(run, target+".pid"))
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 0 || syscall.Kill(pid, syscall.SIGKILL) != nil {
				continue // being restarted
			}
			killMu.Lock()
			kills[target]++
			lastKill = time.Now()
			killMu.Unlock()
		}
	})

	// converged: the Deployment's status says it is done at want
	// replicas, and exactly want pods live, all Ready, all of the newest
	// template.
	converged := func(want int32) error {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "chaos", metav1.GetOptions{})
		if err != nil {
			return err
		}
		s := d.Status
		if s.ObservedGeneration < d.Generation || s.Replicas != want || s.UpdatedReplicas != want || s.ReadyReplicas != want || s.AvailableReplicas != want {
			return fmt.Errorf("status %+v", s)
		}
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=chaos"})
		if err != nil {
			return err
		}
		hashes := map[string]bool{}
		n := 0
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			n++
			hashes[p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]] = true
			if !podReady(&p) {
				return fmt.Errorf("pod %s not Ready", p.Name)
			}
		}
		if n != int(want) || len(hashes) > 1 {
			return fmt.Errorf("%d live pods of %d templates, want %d of one", n, len(hashes), want)
		}
		return nil
	}
	// update changes the Deployment through the API, retrying while the
	// apiserver is down or the object changed under it.
	update := func(what string, f func(*appsv1.Deployment)) {
		eventually(t, 2*time.Minute, what, func() error {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "chaos", metav1.GetOptions{})
			if err != nil {
				return err
			}
			f(d)
			_, err = cs.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
			return err
		})
	}
	var prev int32
	step := func(what string, replicas int32, f func(*appsv1.Deployment)) {
		start := time.Now()
		// While the step runs, what the previous step left may still be
		// live.
		inv.limit.Store(max(prev, replicas) + 1)
		update(what, f)
		eventually(t, 4*time.Minute, what+" converges", func() error { return converged(replicas) })
		inv.limit.Store(replicas + 1)
		prev = replicas
		t.Logf("%s: converged in %s", what, time.Since(start).Round(100*time.Millisecond))
	}
	chaosStart := time.Now()
	step("scale to 30", 30, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(30)) })
	step("scale to 5", 5, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(5)) })
	// Two rollouts, and more (up to six) until the chaos has lasted two
	// minutes, so that every process gets its share of kills.
	for i := 1; i <= 2 || (i <= 6 && time.Since(chaosStart) < 2*time.Minute); i++ {
		step(fmt.Sprintf("rollout %d", i), 5, func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations = map[string]string{"chaos/rollout": strconv.Itoa(i)}
		})
	}
	stopChaos()
	bg.Wait()
	killMu.Lock()
	last := lastKill
	killMu.Unlock()

	// After the last kill: the cluster settles by itself.
	eventually(t, 3*time.Minute, "every node Ready again", func() error {
		for i := 1; i <= 3; i++ {
			if err := nodeIsReady(fmt.Sprintf("node%d", i), true); err != nil {
				return fmt.Errorf("node%d: %w", i, err)
			}
		}
		return nil
	})
	eventually(t, 3*time.Minute, "the Deployment at its spec after the last kill", func() error { return converged(5) })
	settled := time.Since(last)
	for _, c := range chaosTargets {
		eventually(t, time.Minute, c+" running under the supervisor", func() error {
			b, err := os.ReadFile(filepath.Join(run, c+".pid"))
			if err != nil {
				return err
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid <= 0 || syscall.Kill(pid, 0) != nil {
				return fmt.Errorf("pid %d not running", pid)
			}
			return nil
		})
	}
	ackMu.Lock()
	defer ackMu.Unlock()
	lost := 0
	for _, name := range acked {
		if _, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			lost++
			inv.violate("ConfigMap %s acknowledged, then lost", name)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	killMu.Lock()
	total := 0
	var per []string
	for _, c := range chaosTargets {
		total += kills[c]
		per = append(per, fmt.Sprintf("%s %d", c, kills[c]))
	}
	killMu.Unlock()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	t.Logf("chaos: %d kills (%s); settled %s after the last kill; at most %d live pods; %d acknowledged creates, %d lost; %d invariant violations",
		total, strings.Join(per, ", "), settled.Round(100*time.Millisecond), inv.maxLive, len(acked), lost, len(inv.violations))
	if total == 0 {
		t.Error("nothing was killed")
	}
	for _, v := range inv.violations {
		t.Error(v)
	}
}

// podReady tells whether the pod's Ready condition is True.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
