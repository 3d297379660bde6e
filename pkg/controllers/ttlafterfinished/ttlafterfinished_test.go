package ttlafterfinished

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

type jobOpt func(*batchv1.Job)

func newJob(opts ...jobOpt) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default", UID: "uid-1"}}
	for _, o := range opts {
		o(j)
	}
	return j
}

func ttl(s int32) jobOpt { return func(j *batchv1.Job) { j.Spec.TTLSecondsAfterFinished = ptr.To(s) } }

func finished(cond batchv1.JobConditionType, at time.Time) jobOpt {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)})
	}
}

func uid(u string) jobOpt { return func(j *batchv1.Job) { j.UID = types.UID(u) } }

func newController(t *testing.T, now time.Time, cached *batchv1.Job, stored ...runtime.Object) (*Controller, *fake.Clientset, *clocktesting.FakeClock) {
	t.Helper()
	client := fake.NewClientset(stored...)
	factory := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(now)
	c := NewWithClock(client, factory, clk)
	t.Cleanup(c.queue.ShutDown)
	if cached != nil {
		if err := factory.Batch().V1().Jobs().Informer().GetIndexer().Add(cached); err != nil {
			t.Fatal(err)
		}
	}
	return c, client, clk
}

func TestSync(t *testing.T) {
	tests := []struct {
		name    string
		cached  *batchv1.Job
		stored  *batchv1.Job // nil: the cached one
		deleted bool
		requeue *time.Duration
		wantErr bool
	}{
		{name: "running", cached: newJob(ttl(60))},
		{name: "finished without a TTL", cached: newJob(finished(batchv1.JobComplete, t0))},
		{name: "expired", cached: newJob(ttl(60), finished(batchv1.JobComplete, t0.Add(-time.Minute))), deleted: true},
		{name: "failed counts as finished", cached: newJob(ttl(0), finished(batchv1.JobFailed, t0)), deleted: true},
		{name: "not yet expired", cached: newJob(ttl(60), finished(batchv1.JobComplete, t0.Add(-20*time.Second))), requeue: ptr.To(40 * time.Second)},
		{name: "finished in the future (clock skew) waits", cached: newJob(ttl(0), finished(batchv1.JobComplete, t0.Add(time.Minute))), requeue: ptr.To(time.Minute)},
		{name: "being deleted", cached: newJob(ttl(0), finished(batchv1.JobComplete, t0), func(j *batchv1.Job) { j.DeletionTimestamp = &metav1.Time{Time: t0} })},
		{name: "gone", cached: nil},
		{
			name:    "the fresh Job's TTL was raised",
			cached:  newJob(ttl(60), finished(batchv1.JobComplete, t0.Add(-time.Hour))),
			stored:  newJob(ttl(7200), finished(batchv1.JobComplete, t0.Add(-time.Hour))),
			requeue: ptr.To(time.Hour),
		},
		{
			name:   "the fresh Job is a new one, still running",
			cached: newJob(ttl(0), finished(batchv1.JobComplete, t0)),
			stored: newJob(ttl(0), uid("uid-2")),
		},
		{name: "a finished condition without a time", cached: newJob(ttl(0), finished(batchv1.JobComplete, time.Time{})), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stored []runtime.Object
			switch {
			case tt.stored != nil:
				stored = append(stored, tt.stored)
			case tt.cached != nil:
				stored = append(stored, tt.cached)
			}
			c, client, _ := newController(t, t0, tt.cached, stored...)
			got, err := c.sync(context.Background(), "default/j")
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			switch {
			case tt.requeue == nil && got != nil:
				t.Errorf("got requeue after %s, want none", *got)
			case tt.requeue != nil && got == nil:
				t.Errorf("got no requeue, want after %s", *tt.requeue)
			case tt.requeue != nil && *got != *tt.requeue:
				t.Errorf("got requeue after %s, want %s", *got, *tt.requeue)
			}
			var del k8stesting.DeleteAction
			for _, a := range client.Actions() {
				if d, ok := a.(k8stesting.DeleteAction); ok {
					del = d
				}
			}
			if (del != nil) != tt.deleted {
				t.Fatalf("got deleted %v, want %v", del != nil, tt.deleted)
			}
			if del == nil {
				return
			}
			opts := del.GetDeleteOptions()
			if opts.PropagationPolicy == nil || *opts.PropagationPolicy != metav1.DeletePropagationForeground {
				t.Errorf("got propagation %q, want Foreground", ptr.Deref(opts.PropagationPolicy, ""))
			}
			if opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != tt.cached.UID {
				t.Errorf("got preconditions %+v, want the Job's UID %s", opts.Preconditions, tt.cached.UID)
			}
		})
	}
}

// TestRequeueAtExpiry: a Job not yet expired asks to be synced again when
// its TTL runs out on the controller's clock, and is deleted then.
func TestRequeueAtExpiry(t *testing.T) {
	job := newJob(ttl(60), finished(batchv1.JobComplete, t0))
	c, client, clk := newController(t, t0.Add(10*time.Second), job, job)
	res, err := c.syncKey(context.Background(), "default/j")
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != 50*time.Second {
		t.Fatalf("got a sync again after %s, want 50s", res.RequeueAfter)
	}
	clk.Step(res.RequeueAfter)
	if _, err := c.syncKey(context.Background(), "default/j"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.BatchV1().Jobs("default").Get(context.Background(), "j", metav1.GetOptions{}); err == nil {
		t.Error("the expired Job is still there")
	}
}

func TestEventHandlersQueueOnlyFinishedJobsWithATTL(t *testing.T) {
	tests := []struct {
		name string
		job  *batchv1.Job
		want int
	}{
		{"finished with TTL", newJob(ttl(5), finished(batchv1.JobComplete, t0)), 1},
		{"running", newJob(ttl(5)), 0},
		{"no TTL", newJob(finished(batchv1.JobComplete, t0)), 0},
		{"being deleted", newJob(ttl(5), finished(batchv1.JobComplete, t0), func(j *batchv1.Job) { j.DeletionTimestamp = &metav1.Time{Time: t0} }), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			factory := informers.NewSharedInformerFactory(client, 0)
			c := NewWithClock(client, factory, clocktesting.NewFakeClock(t0))
			defer c.queue.ShutDown()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			factory.Start(ctx.Done())
			factory.WaitForCacheSync(ctx.Done())
			if _, err := client.BatchV1().Jobs("default").Create(ctx, tt.job, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			// A second, finished Job with a TTL as a marker: once it is
			// queued, the first Job's event has been handled too.
			marker := newJob(ttl(5), finished(batchv1.JobComplete, t0), func(j *batchv1.Job) { j.Name = "marker" })
			if _, err := client.BatchV1().Jobs("default").Create(ctx, marker, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for {
				key, _ := c.queue.Get()
				c.queue.Done(key)
				if key == "default/marker" {
					break
				}
				keys = append(keys, key)
			}
			if len(keys) != tt.want {
				t.Errorf("got queued %v, want %d key(s)", keys, tt.want)
			}
		})
	}
}
