package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// pollEvery is how often the bench reads the object it waits on.
const pollEvery = 20 * time.Millisecond

func template(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "echo", Image: "minik8s/echo:1"}}},
	}
}

func createNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("creating namespace %s: %w", ns, err)
	}
	return nil
}

// poll reads with get every pollEvery until done says so; on failure the
// error carries what was last read.
func poll[T any](ctx context.Context, what string, get func(context.Context) (T, error), done func(T) bool) error {
	var last T
	var seen bool
	err := wait.PollUntilContextCancel(ctx, pollEvery, true, func(ctx context.Context) (bool, error) {
		v, err := get(ctx)
		if err != nil {
			return false, nil
		}
		last, seen = v, true
		return done(v), nil
	})
	if err != nil && seen {
		return fmt.Errorf("waiting for %s (last seen %+v): %w", what, last, err)
	}
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// deploymentAvailable creates a Deployment of n replicas in a new namespace
// ns and returns the time from create until status says n available.
func deploymentAvailable(ctx context.Context, client kubernetes.Interface, ns string, n int32) (time.Duration, error) {
	if err := createNamespace(ctx, client, ns); err != nil {
		return 0, err
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: template("web"),
		},
	}
	deps := client.AppsV1().Deployments(ns)
	start := time.Now()
	if _, err := deps.Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("creating deployment: %w", err)
	}
	err := poll(ctx, "deployment "+ns+"/web",
		func(ctx context.Context) (appsv1.DeploymentStatus, error) {
			d, err := deps.Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return appsv1.DeploymentStatus{}, err
			}
			return d.Status, nil
		},
		func(s appsv1.DeploymentStatus) bool { return s.AvailableReplicas == n })
	return time.Since(start), err
}

// cleanup deletes namespace ns (in default: its Deployments) and waits,
// at most limit, until it and its pods are gone, so that the next part
// does not share the machine with the garbage collection of this one.
func cleanup(ctx context.Context, client kubernetes.Interface, agent *agent, ns string, limit time.Duration) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var err error
	if ns == metav1.NamespaceDefault {
		bg := metav1.DeletePropagationBackground
		err = client.AppsV1().Deployments(ns).DeleteCollection(wctx, metav1.DeleteOptions{PropagationPolicy: &bg}, metav1.ListOptions{})
		if err == nil {
			err = wait.PollUntilContextCancel(wctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
				return len(agent.pods(ns)) == 0, nil
			})
		}
	} else {
		err = client.CoreV1().Namespaces().Delete(wctx, ns, metav1.DeleteOptions{})
		if err == nil {
			err = wait.PollUntilContextCancel(wctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
				_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
				return apierrors.IsNotFound(err) && len(agent.pods(ns)) == 0, nil
			})
		}
	}
	if err != nil {
		fmt.Printf("  (cleanup of %s not done after %v, %d pods left: %v; going on)\n", ns, time.Since(start).Round(time.Millisecond), len(agent.pods(ns)), err)
		return
	}
	fmt.Printf("  (cleanup: %s emptied in %v)\n", ns, time.Since(start).Round(time.Millisecond))
}

func ratio(d, base time.Duration) string {
	return fmt.Sprintf("(%.2f × the deployment; goal ≤ 2)", d.Seconds()/base.Seconds())
}

// jobVsDeployment: a Job of completions pods, parallelism at a time, from
// create to its Complete condition; then a Deployment of as many replicas
// to all available.
func jobVsDeployment(ctx context.Context, client kubernetes.Interface, agent *agent, completions, parallelism int32, limit time.Duration) error {
	fmt.Printf("job of %d completions, parallelism %d, vs a deployment of %d replicas\n", completions, parallelism, completions)
	const ns = "bench-job"
	if err := createNamespace(ctx, client, ns); err != nil {
		return err
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "work", Namespace: ns},
		Spec: batchv1.JobSpec{
			Completions: &completions,
			Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "work", Image: "minik8s/toolbox:1", Command: []string{"true"}}},
			}},
		},
	}
	jobs := client.BatchV1().Jobs(ns)
	start := time.Now()
	if _, err := jobs.Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating job: %w", err)
	}
	var failed string
	err := poll(ctx, "job "+ns+"/work",
		func(ctx context.Context) (batchv1.JobStatus, error) {
			j, err := jobs.Get(ctx, "work", metav1.GetOptions{})
			if err != nil {
				return batchv1.JobStatus{}, err
			}
			return j.Status, nil
		},
		func(s batchv1.JobStatus) bool {
			for _, c := range s.Conditions {
				if c.Status != corev1.ConditionTrue {
					continue
				}
				switch c.Type {
				case batchv1.JobComplete:
					return true
				case batchv1.JobFailed:
					failed = c.Reason + ": " + c.Message
					return true
				}
			}
			return false
		})
	jobAt := time.Since(start)
	if err != nil {
		return err
	}
	if failed != "" {
		return fmt.Errorf("job failed after %v: %s", jobAt, failed)
	}
	cleanup(ctx, client, agent, ns, limit)
	depAt, err := deploymentAvailable(ctx, client, "bench-job-deployment", completions)
	if err != nil {
		return err
	}
	fmt.Printf("  deployment %d available after  %v\n", completions, depAt.Round(time.Millisecond))
	fmt.Printf("  job Complete after              %v %s\n", jobAt.Round(time.Millisecond), ratio(jobAt, depAt))
	cleanup(ctx, client, agent, "bench-job-deployment", limit)
	return nil
}

// statefulSetVsDeployment: a StatefulSet of n (OrderedReady) from create to
// n ready; then a Deployment of n to all available.
func statefulSetVsDeployment(ctx context.Context, client kubernetes.Interface, agent *agent, n int32, limit time.Duration) error {
	fmt.Printf("statefulset of %d replicas (OrderedReady) vs a deployment of %d replicas\n", n, n)
	const ns = "bench-statefulset"
	if err := createNamespace(ctx, client, ns); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"},
			Ports: []corev1.ServicePort{{Name: "db", Port: 5432}}},
	}
	if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating headless service: %w", err)
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &n,
			ServiceName:         "db",
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template:            template("db"),
		},
	}
	sets := client.AppsV1().StatefulSets(ns)
	start := time.Now()
	if _, err := sets.Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating statefulset: %w", err)
	}
	err := poll(ctx, "statefulset "+ns+"/db",
		func(ctx context.Context) (appsv1.StatefulSetStatus, error) {
			s, err := sets.Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				return appsv1.StatefulSetStatus{}, err
			}
			return s.Status, nil
		},
		func(s appsv1.StatefulSetStatus) bool { return s.ReadyReplicas == n })
	stsAt := time.Since(start)
	if err != nil {
		return err
	}
	cleanup(ctx, client, agent, ns, limit)
	depAt, err := deploymentAvailable(ctx, client, "bench-statefulset-deployment", n)
	if err != nil {
		return err
	}
	fmt.Printf("  deployment %d available after   %v\n", n, depAt.Round(time.Millisecond))
	fmt.Printf("  statefulset %d ready after      %v %s\n", n, stsAt.Round(time.Millisecond), ratio(stsAt, depAt))
	cleanup(ctx, client, agent, "bench-statefulset-deployment", limit)
	return nil
}

// daemonSetVsDeployment grows the fake nodes to n (waiting until node IPAM
// gave each a pod CIDR, so that its work is not measured), then: a
// DaemonSet from create until all n scheduled and all n ready; then a
// Deployment of n to all available.
func daemonSetVsDeployment(ctx context.Context, client kubernetes.Interface, agent *agent, nodes *fakeNodes, n int, limit time.Duration) error {
	fmt.Printf("daemonset on %d nodes vs a deployment of %d replicas\n", n, n)
	start := time.Now()
	if err := nodes.grow(ctx, n); err != nil {
		return err
	}
	created := time.Since(start)
	err := poll(ctx, "pod CIDRs on every node",
		func(ctx context.Context) (int, error) {
			l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
			if err != nil {
				return 0, err
			}
			without := 0
			for _, node := range l.Items {
				if node.Spec.PodCIDR == "" {
					without++
				}
			}
			return without, nil
		},
		func(without int) bool { return without == 0 })
	if err != nil {
		return err
	}
	fmt.Printf("  (%d fake nodes created in %v, all with pod CIDRs after %v)\n", len(nodes.list()), created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	const ns = "bench-daemonset"
	if err := createNamespace(ctx, client, ns); err != nil {
		return err
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: template("agent"),
		},
	}
	sets := client.AppsV1().DaemonSets(ns)
	want := int32(len(nodes.list()))
	start = time.Now()
	if _, err := sets.Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating daemonset: %w", err)
	}
	var scheduledAt time.Duration
	err = poll(ctx, "daemonset "+ns+"/agent",
		func(ctx context.Context) (appsv1.DaemonSetStatus, error) {
			d, err := sets.Get(ctx, "agent", metav1.GetOptions{})
			if err != nil {
				return appsv1.DaemonSetStatus{}, err
			}
			return d.Status, nil
		},
		func(s appsv1.DaemonSetStatus) bool {
			if scheduledAt == 0 && s.DesiredNumberScheduled == want && s.CurrentNumberScheduled == want {
				scheduledAt = time.Since(start)
			}
			return scheduledAt != 0 && s.NumberReady == want
		})
	readyAt := time.Since(start)
	if err != nil {
		return err
	}
	cleanup(ctx, client, agent, ns, limit)
	depAt, err := deploymentAvailable(ctx, client, "bench-daemonset-deployment", want)
	if err != nil {
		return err
	}
	fmt.Printf("  deployment %d available after  %v\n", want, depAt.Round(time.Millisecond))
	fmt.Printf("  daemonset %d scheduled after   %v %s\n", want, scheduledAt.Round(time.Millisecond), ratio(scheduledAt, depAt))
	fmt.Printf("  daemonset %d ready after       %v %s\n", want, readyAt.Round(time.Millisecond), ratio(readyAt, depAt))
	cleanup(ctx, client, agent, "bench-daemonset-deployment", limit)
	if l, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err == nil {
		tainted := 0
		for _, node := range l.Items {
			if len(node.Spec.Taints) > 0 {
				tainted++
			}
		}
		fmt.Printf("  (%d of %d fake nodes tainted at the end)\n", tainted, len(l.Items))
	}
	return nil
}
