package job

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
)

// startController runs the controller against a real apiserver.
func startController(t *testing.T) kubernetes.Interface {
	t.Helper()
	srv := apiservertest.Start(t)
	client := kubernetes.NewForConfigOrDie(srv.Config)
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(client, 0)
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	c := New(client, factory, broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "job-controller"}))
	factory.Start(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 2)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
		broadcaster.Shutdown()
	})
	return client
}

// playKubelet ends each of the Job's running pods with the phase finish
// picks for it, as the agent would, until the Job is finished; with
// deleteFinished it deletes each pod right after ending it.
func playKubelet(t *testing.T, client kubernetes.Interface, name string, deleteFinished bool, finish func(pod *corev1.Pod) corev1.PodPhase) *batchv1.Job {
	t.Helper()
	ctx := context.Background()
	var job *batchv1.Job
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		if job, err = client.BatchV1().Jobs("default").Get(ctx, name, metav1.GetOptions{}); err != nil {
			return false, err
		}
		if isFinished(job) {
			return true, nil
		}
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
		if err != nil {
			return false, err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			phase := finish(p)
			code := int32(0)
			if phase == corev1.PodFailed {
				code = 1
			}
			// Finished a minute ago: the back-off before a replacement
			// has already passed.
			at := metav1.NewTime(time.Now().Add(-time.Minute))
			p.Status.Phase = phase
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, StartedAt: at, FinishedAt: at}}}}
			if _, err := client.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Logf("updating status of pod %s: %v", p.Name, err)
				continue
			}
			if deleteFinished {
				if err := client.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
					t.Logf("deleting pod %s: %v", p.Name, err)
				}
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("job %s did not finish: %v; last status %+v", name, err, job.Status)
	}
	return job
}

func newAPIJob(name string, completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: batchv1.JobSpec{
			Completions: &completions,
			Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "main", Image: "minik8s/toolbox"}},
			}},
		},
	}
}

func TestIntegrationJobCompletesDespiteAFailure(t *testing.T) {
	client := startController(t)
	ctx := context.Background()
	if _, err := client.BatchV1().Jobs("default").Create(ctx, newAPIJob("work", 3, 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	failedOne := false
	job := playKubelet(t, client, "work", false, func(*corev1.Pod) corev1.PodPhase {
		if !failedOne {
			failedOne = true
			return corev1.PodFailed
		}
		return corev1.PodSucceeded
	})
	want := []string{"SuccessCriteriaMet=True/CompletionsReached", "Complete=True/CompletionsReached"}
	if got := conditions(job); !slices.Equal(got, want) {
		t.Errorf("got conditions %v, want %v", got, want)
	}
	if job.Status.Succeeded != 3 || job.Status.Failed != 1 || job.Status.Active != 0 {
		t.Errorf("got succeeded %d failed %d active %d, want 3 1 0", job.Status.Succeeded, job.Status.Failed, job.Status.Active)
	}
	if job.Status.StartTime == nil || job.Status.CompletionTime == nil {
		t.Errorf("got startTime %v completionTime %v, want both", job.Status.StartTime, job.Status.CompletionTime)
	}
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "job-name=work"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 4 {
		t.Errorf("got %d pods, want 4 (one failed, three succeeded)", len(pods.Items))
	}
	for _, p := range pods.Items {
		if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod %s kept the tracking finalizer after the Job completed", p.Name)
		}
		if p.Labels[batchv1.ControllerUidLabel] != string(job.UID) || p.Labels[batchv1.JobNameLabel] != "work" {
			t.Errorf("pod %s: got labels %v", p.Name, p.Labels)
		}
	}
	// Events reach the API asynchronously.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=work"})
		if err != nil {
			return false, err
		}
		reasons := map[string]bool{}
		for _, e := range evs.Items {
			reasons[e.Reason] = true
		}
		return reasons["SuccessfulCreate"] && reasons["Completed"], nil
	})
	if err != nil {
		t.Errorf("no SuccessfulCreate and Completed events: %v", err)
	}
}

func TestIntegrationIndexedJob(t *testing.T) {
	client := startController(t)
	ctx := context.Background()
	j := newAPIJob("idx", 3, 3)
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	job := playKubelet(t, client, "idx", false, func(p *corev1.Pod) corev1.PodPhase {
		seen[p.Annotations[batchv1.JobCompletionIndexAnnotation]] = p.Spec.Hostname
		return corev1.PodSucceeded
	})
	if job.Status.CompletedIndexes != "0-2" || job.Status.Succeeded != 3 {
		t.Errorf("got completedIndexes %q succeeded %d, want \"0-2\" 3", job.Status.CompletedIndexes, job.Status.Succeeded)
	}
	for ix, host := range map[string]string{"0": "idx-0", "1": "idx-1", "2": "idx-2"} {
		if seen[ix] != host {
			t.Errorf("index %s: got hostname %q, want %q", ix, seen[ix], host)
		}
	}
}

func TestIntegrationBackoffLimit(t *testing.T) {
	client := startController(t)
	ctx := context.Background()
	j := newAPIJob("doomed", 2, 1)
	j.Spec.BackoffLimit = ptr.To[int32](1)
	if _, err := client.BatchV1().Jobs("default").Create(ctx, j, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := playKubelet(t, client, "doomed", false, func(*corev1.Pod) corev1.PodPhase { return corev1.PodFailed })
	want := []string{"FailureTarget=True/BackoffLimitExceeded", "Failed=True/BackoffLimitExceeded"}
	if got := conditions(job); !slices.Equal(got, want) {
		t.Errorf("got conditions %v, want %v", got, want)
	}
	if job.Status.Failed != 2 {
		t.Errorf("got failed %d, want 2", job.Status.Failed)
	}
}

// TestIntegrationPodsDeletedEarlyAreCounted: pods deleted as soon as they
// end stay, held by the tracking finalizer, until the controller counted
// them; then they go.
func TestIntegrationPodsDeletedEarlyAreCounted(t *testing.T) {
	client := startController(t)
	ctx := context.Background()
	if _, err := client.BatchV1().Jobs("default").Create(ctx, newAPIJob("hasty", 3, 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	failedOne := false
	job := playKubelet(t, client, "hasty", true, func(*corev1.Pod) corev1.PodPhase {
		if !failedOne {
			failedOne = true
			return corev1.PodFailed
		}
		return corev1.PodSucceeded
	})
	if !slices.Contains(conditions(job), "Complete=True/CompletionsReached") || job.Status.Succeeded != 3 || job.Status.Failed != 1 {
		t.Errorf("got conditions %v succeeded %d failed %d, want Complete 3 1", conditions(job), job.Status.Succeeded, job.Status.Failed)
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "job-name=hasty"})
		return err == nil && len(pods.Items) == 0, err
	})
	if err != nil {
		t.Errorf("deleted pods not gone once counted: %v", err)
	}
}
