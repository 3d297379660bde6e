package cronjob

import (
	"context"
	"fmt"
	"slices"
	"strings"
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
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// t0 is a Monday, 10:00 UTC; CronJobs in these tests are created then.
var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

type fixture struct {
	client   *fake.Clientset
	c        *Controller
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
}

func newFixture(t *testing.T, now time.Time, objs ...runtime.Object) *fixture {
	t.Helper()
	client := fake.NewClientset(objs...)
	// The fake gives created objects no UID.
	client.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		j := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		j.UID = types.UID(j.Name + "-uid")
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	clk := clocktesting.NewFakeClock(now)
	rec := record.NewFakeRecorder(100)
	c, err := NewWithClock(client, factory, rec, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.queue.ShutDown)
	for _, o := range objs {
		switch o := o.(type) {
		case *batchv1.CronJob:
			factory.Batch().V1().CronJobs().Informer().GetIndexer().Add(o)
		case *batchv1.Job:
			factory.Batch().V1().Jobs().Informer().GetIndexer().Add(o)
		}
	}
	return &fixture{client: client, c: c, clock: clk, recorder: rec}
}

func newCronJob(name, schedule string, opts ...func(*batchv1.CronJob)) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name + "-uid"), CreationTimestamp: metav1.NewTime(t0)},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: batchv1.AllowConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			}}},
		},
	}
	for _, o := range opts {
		o(cj)
	}
	return cj
}

func policy(p batchv1.ConcurrencyPolicy) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = p }
}

func lastScheduled(at time.Time) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) { cj.Status.LastScheduleTime = &metav1.Time{Time: at} }
}

// active lists jobs in status.active.
func active(jobs ...*batchv1.Job) func(*batchv1.CronJob) {
	return func(cj *batchv1.CronJob) {
		for _, j := range jobs {
			cj.Status.Active = append(cj.Status.Active, corev1.ObjectReference{
				Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID})
		}
	}
}

type jobOpt func(*batchv1.Job)

// newJob is a Job of cj's scheduled at the given minute after t0.
func newJob(cj *batchv1.CronJob, minute int, opts ...jobOpt) *batchv1.Job {
	at := t0.Add(time.Duration(minute) * time.Minute)
	j, err := jobFromTemplate(cj, at)
	if err != nil {
		panic(err)
	}
	j.UID = types.UID(j.Name + "-uid")
	j.Status.StartTime = &metav1.Time{Time: at}
	for _, o := range opts {
		o(j)
	}
	return j
}

func finished(cond batchv1.JobConditionType, at time.Time) jobOpt {
	return func(j *batchv1.Job) {
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)})
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = &metav1.Time{Time: at}
		}
	}
}

func reasons(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, strings.Fields(e)[1])
		default:
			return out
		}
	}
}

func names(actions []k8stesting.Action, verb string) []string {
	var out []string
	for _, a := range actions {
		if a.GetVerb() != verb || a.GetResource().Resource != "jobs" {
			continue
		}
		switch a := a.(type) {
		case k8stesting.CreateAction:
			out = append(out, a.GetObject().(*batchv1.Job).Name)
		case k8stesting.DeleteAction:
			out = append(out, a.GetName())
		}
	}
	slices.Sort(out)
	return out
}

func jobNameAt(cj *batchv1.CronJob, minute int) string {
	return jobName(cj, t0.Add(time.Duration(minute)*time.Minute))
}

func TestSync(t *testing.T) {
	every5 := newCronJob("c", "*/5 * * * *")
	running := newJob(every5, 0)
	tests := []struct {
		name    string
		cj      *batchv1.CronJob
		jobs    []*batchv1.Job
		now     time.Time
		created []string
		deleted []string
		events  []string
		// active: names in status.active after the sync (nil: no status write).
		active  []string
		last    *time.Time // wanted status.lastScheduleTime, when status is written
		requeue *time.Duration
	}{
		{
			name: "not due yet", cj: every5, now: t0.Add(4 * time.Minute),
			requeue: ptr.To(time.Minute + nextScheduleDelta),
		},
		{
			name: "due: creates the Job", cj: every5, now: t0.Add(5*time.Minute + 10*time.Second),
			created: []string{jobNameAt(every5, 5)}, events: []string{"SuccessfulCreate"},
			active: []string{jobNameAt(every5, 5)}, last: ptr.To(t0.Add(5 * time.Minute)),
			requeue: ptr.To(5*time.Minute - 10*time.Second + nextScheduleDelta),
		},
		{
			name: "already handled this schedule time", cj: newCronJob("c", "*/5 * * * *", lastScheduled(t0.Add(5*time.Minute))),
			now: t0.Add(5*time.Minute + 10*time.Second), requeue: ptr.To(5*time.Minute - 10*time.Second + nextScheduleDelta),
		},
		{
			name: "Allow runs beside an active Job", cj: newCronJob("c", "*/5 * * * *", lastScheduled(t0), active(running)),
			jobs: []*batchv1.Job{running}, now: t0.Add(5 * time.Minute),
			created: []string{jobNameAt(every5, 5)}, events: []string{"SuccessfulCreate"},
			active: []string{running.Name, jobNameAt(every5, 5)}, last: ptr.To(t0.Add(5 * time.Minute)),
			requeue: ptr.To(5*time.Minute + nextScheduleDelta),
		},
		{
			name: "Forbid skips while a Job is active", cj: newCronJob("c", "*/5 * * * *", policy(batchv1.ForbidConcurrent), lastScheduled(t0), active(running)),
			jobs: []*batchv1.Job{running}, now: t0.Add(5 * time.Minute), events: []string{"JobAlreadyActive"},
			requeue: ptr.To(5*time.Minute + nextScheduleDelta),
		},
		{
			name: "Replace deletes the active Job first", cj: newCronJob("c", "*/5 * * * *", policy(batchv1.ReplaceConcurrent), lastScheduled(t0), active(running)),
			jobs: []*batchv1.Job{running}, now: t0.Add(5 * time.Minute),
			created: []string{jobNameAt(every5, 5)}, deleted: []string{running.Name}, events: []string{"SuccessfulDelete", "SuccessfulCreate"},
			active: []string{jobNameAt(every5, 5)}, last: ptr.To(t0.Add(5 * time.Minute)),
			requeue: ptr.To(5*time.Minute + nextScheduleDelta),
		},
		{
			name: "Forbid runs once the active Job finished", cj: newCronJob("c", "*/5 * * * *", policy(batchv1.ForbidConcurrent), lastScheduled(t0), active(running)),
			jobs: []*batchv1.Job{newJob(every5, 0, finished(batchv1.JobComplete, t0.Add(time.Minute)))}, now: t0.Add(5 * time.Minute),
			created: []string{jobNameAt(every5, 5)}, events: []string{"SawCompletedJob", "SuccessfulCreate"},
			active: []string{jobNameAt(every5, 5)}, last: ptr.To(t0.Add(5 * time.Minute)),
			requeue: ptr.To(5*time.Minute + nextScheduleDelta),
		},
		{
			// As upstream's v2 controller: a schedule time older than the
			// deadline is not due any more, silently (no MissSchedule).
			name: "starting deadline missed", cj: newCronJob("c", "*/5 * * * *", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10) }),
			now:     t0.Add(5*time.Minute + 30*time.Second),
			requeue: ptr.To(4*time.Minute + 30*time.Second + nextScheduleDelta),
		},
		{
			name: "starting deadline met", cj: newCronJob("c", "*/5 * * * *", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptr.To[int64](60) }),
			now: t0.Add(5*time.Minute + 30*time.Second), created: []string{jobNameAt(every5, 5)}, events: []string{"SuccessfulCreate"},
			active: []string{jobNameAt(every5, 5)}, last: ptr.To(t0.Add(5 * time.Minute)),
			requeue: ptr.To(4*time.Minute + 30*time.Second + nextScheduleDelta),
		},
		{
			// A controller-manager back after 37 minutes: one Job, for the
			// latest schedule time, not seven.
			name: "restart without catch-up burst", cj: newCronJob("c", "*/5 * * * *", lastScheduled(t0)),
			now: t0.Add(37*time.Minute + 30*time.Second), created: []string{jobNameAt(every5, 35)}, events: []string{"SuccessfulCreate"},
			active: []string{jobNameAt(every5, 35)}, last: ptr.To(t0.Add(35 * time.Minute)),
			requeue: ptr.To(2*time.Minute + 30*time.Second + nextScheduleDelta),
		},
		{
			name: "more than 100 missed", cj: newCronJob("c", "* * * * *"), now: t0.Add(3*time.Hour + 30*time.Second),
			created: []string{jobNameAt(every5, 180)}, events: []string{"TooManyMissedTimes", "SuccessfulCreate"},
			active: []string{jobNameAt(every5, 180)}, last: ptr.To(t0.Add(180 * time.Minute)),
			requeue: ptr.To(30*time.Second + nextScheduleDelta),
		},
		{
			name: "suspended", cj: newCronJob("c", "*/5 * * * *", func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) }),
			now: t0.Add(5 * time.Minute),
		},
		{
			name: "unknown time zone", cj: newCronJob("c", "*/5 * * * *", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Mars/Olympus_Mons") }),
			now: t0.Add(5 * time.Minute), events: []string{"UnknownTimeZone"},
		},
		{
			name: "a finished Job leaves status.active", cj: newCronJob("c", "*/5 * * * *", lastScheduled(t0), active(running)),
			jobs: []*batchv1.Job{newJob(every5, 0, finished(batchv1.JobFailed, t0.Add(time.Minute)))}, now: t0.Add(2 * time.Minute),
			events: []string{"SawCompletedJob"}, active: []string{}, last: ptr.To(t0),
			requeue: ptr.To(3*time.Minute + nextScheduleDelta),
		},
		{
			name: "a Job we did not start", cj: newCronJob("c", "*/5 * * * *", lastScheduled(t0)),
			jobs: []*batchv1.Job{running}, now: t0.Add(2 * time.Minute), events: []string{"UnexpectedJob"},
			requeue: ptr.To(3*time.Minute + nextScheduleDelta),
		},
		{
			name: "an active Job that is gone", cj: newCronJob("c", "*/5 * * * *", lastScheduled(t0), active(running)),
			now: t0.Add(2 * time.Minute), events: []string{"MissingJob"}, active: []string{}, last: ptr.To(t0),
			requeue: ptr.To(3*time.Minute + nextScheduleDelta),
		},
		{
			name: "invalid schedule", cj: newCronJob("c", "59 23 31 2 *"), now: t0.Add(time.Hour), events: []string{"InvalidSchedule"},
		},
		{
			name: "being deleted", cj: newCronJob("c", "*/5 * * * *", func(cj *batchv1.CronJob) { cj.DeletionTimestamp = &metav1.Time{Time: t0} }),
			now: t0.Add(5 * time.Minute),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []runtime.Object{tt.cj}
			for _, j := range tt.jobs {
				objs = append(objs, j)
			}
			f := newFixture(t, tt.now, objs...)
			got, err := f.c.sync(context.Background(), "default/c")
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			switch {
			case tt.requeue == nil && got != nil:
				t.Errorf("got requeue after %s, want none", *got)
			case tt.requeue != nil && got == nil:
				t.Errorf("got no requeue, want after %s", *tt.requeue)
			case tt.requeue != nil && *got != *tt.requeue:
				t.Errorf("got requeue after %s, want %s", *got, *tt.requeue)
			}
			actions := f.client.Actions()
			if got := names(actions, "create"); !slices.Equal(got, tt.created) {
				t.Errorf("got created %v, want %v", got, tt.created)
			}
			if got := names(actions, "delete"); !slices.Equal(got, tt.deleted) {
				t.Errorf("got deleted %v, want %v", got, tt.deleted)
			}
			if got := reasons(f.recorder); !slices.Equal(got, tt.events) {
				t.Errorf("got events %v, want %v", got, tt.events)
			}
			var status *batchv1.CronJob
			for _, a := range actions {
				if a.GetVerb() == "update" && a.GetSubresource() == "status" {
					status = a.(k8stesting.UpdateAction).GetObject().(*batchv1.CronJob)
				}
			}
			if tt.active == nil {
				if status != nil {
					t.Errorf("got a status write %+v, want none", status.Status)
				}
				return
			}
			if status == nil {
				t.Fatalf("got no status write, want active %v", tt.active)
			}
			var gotActive []string
			for _, ref := range status.Status.Active {
				gotActive = append(gotActive, ref.Name)
				if ref.Kind != "Job" || ref.APIVersion != "batch/v1" || ref.UID == "" {
					t.Errorf("got active reference %+v, want a Job's with its UID", ref)
				}
			}
			if !slices.Equal(gotActive, tt.active) && !(len(gotActive) == 0 && len(tt.active) == 0) {
				t.Errorf("got active %v, want %v", gotActive, tt.active)
			}
			if gotLast := status.Status.LastScheduleTime; gotLast == nil || !gotLast.Time.Equal(*tt.last) {
				t.Errorf("got lastScheduleTime %v, want %s", gotLast, tt.last)
			}
		})
	}
}

func TestSyncCreatesTheTemplatesJob(t *testing.T) {
	cj := newCronJob("report", "0 3 * * *", func(cj *batchv1.CronJob) {
		cj.Spec.TimeZone = ptr.To("America/New_York")
		cj.Spec.JobTemplate.Labels = map[string]string{"app": "report"}
		cj.Spec.JobTemplate.Annotations = map[string]string{"owner": "ops"}
	})
	// 03:00 in New York on Jan 6 is 08:00 UTC.
	f := newFixture(t, time.Date(2026, 1, 6, 8, 0, 1, 0, time.UTC), cj)
	if _, err := f.c.sync(context.Background(), "default/report"); err != nil {
		t.Fatal(err)
	}
	scheduled := time.Date(2026, 1, 6, 8, 0, 0, 0, time.UTC)
	name := fmt.Sprintf("report-%d", scheduled.Unix()/60)
	job, err := f.client.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting the Job %s: %v", name, err)
	}
	if got, want := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation], "2026-01-06T03:00:00-05:00"; got != want {
		t.Errorf("got %s %q, want %q", batchv1.CronJobScheduledTimestampAnnotation, got, want)
	}
	if job.Labels["app"] != "report" || job.Annotations["owner"] != "ops" {
		t.Errorf("got labels %v annotations %v, want the template's", job.Labels, job.Annotations)
	}
	if !metav1.IsControlledBy(job, cj) {
		t.Errorf("got owners %+v, want the CronJob as controller", job.OwnerReferences)
	}
}

func TestSyncAdoptsItsOwnJobAfterAFailedStatusWrite(t *testing.T) {
	cj := newCronJob("c", "*/5 * * * *")
	// Created at 10:05 by an earlier sync whose status write was lost; the
	// informer has not seen it yet.
	job := newJob(cj, 5)
	f := newFixture(t, t0.Add(5*time.Minute+time.Second), cj)
	if _, err := f.client.BatchV1().Jobs("default").Create(context.Background(), job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.client.ClearActions()
	if _, err := f.c.sync(context.Background(), "default/c"); err != nil {
		t.Fatal(err)
	}
	if got := reasons(f.recorder); len(got) != 0 {
		t.Errorf("got events %v, want none (no Job was created)", got)
	}
	got, err := f.client.BatchV1().CronJobs("default").Get(context.Background(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Active) != 1 || got.Status.Active[0].UID != job.UID {
		t.Errorf("got active %+v, want the existing Job", got.Status.Active)
	}
}

func TestSyncPrunesHistory(t *testing.T) {
	cj := newCronJob("c", "*/5 * * * *", lastScheduled(t0.Add(25*time.Minute)), func(cj *batchv1.CronJob) {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](1)
		cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](0)
	})
	ok := func(m int) *batchv1.Job {
		return newJob(cj, m, finished(batchv1.JobComplete, t0.Add(time.Duration(m+1)*time.Minute)))
	}
	failed := func(m int) *batchv1.Job {
		return newJob(cj, m, finished(batchv1.JobFailed, t0.Add(time.Duration(m+1)*time.Minute)))
	}
	objs := []runtime.Object{cj, ok(20), ok(5), ok(10), failed(15), failed(25)}
	f := newFixture(t, t0.Add(26*time.Minute), objs...)
	if _, err := f.c.sync(context.Background(), "default/c"); err != nil {
		t.Fatal(err)
	}
	want := []string{jobNameAt(cj, 5), jobNameAt(cj, 10), jobNameAt(cj, 15), jobNameAt(cj, 25)}
	slices.Sort(want)
	if got := names(f.client.Actions(), "delete"); !slices.Equal(got, want) {
		t.Errorf("got deleted %v, want %v (all but the newest success)", got, want)
	}
	got, err := f.client.BatchV1().CronJobs("default").Get(context.Background(), "c", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lst := got.Status.LastSuccessfulTime; lst == nil || !lst.Time.Equal(t0.Add(21*time.Minute)) {
		t.Errorf("got lastSuccessfulTime %v, want the newest completion %s", lst, t0.Add(21*time.Minute))
	}
}

// TestSyncAsksForTheNextSchedule: a sync asks to be synced again at the
// next schedule time on the controller's clock, padded.
func TestSyncAsksForTheNextSchedule(t *testing.T) {
	cj := newCronJob("c", "*/5 * * * *")
	f := newFixture(t, t0.Add(5*time.Minute), cj)
	res, err := f.c.syncKey(context.Background(), "default/c")
	if err != nil {
		t.Fatal(err)
	}
	if want := 5*time.Minute + nextScheduleDelta; res.RequeueAfter != want {
		t.Errorf("got a sync again after %s, want %s", res.RequeueAfter, want)
	}
}

// next waits for the delaying queue to hand over a key (it does so from its
// own goroutine once the fake clock has moved).
func next(t *testing.T, c *Controller) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		key, _ := c.queue.Get()
		got <- key
	}()
	select {
	case key := <-got:
		return key
	case <-time.After(10 * time.Second):
		t.Fatal("the queue never handed over a key")
		return ""
	}
}

func TestScheduleChangeRequeuesAtTheNewTime(t *testing.T) {
	old := newCronJob("c", "0 * * * *")
	cur := newCronJob("c", "*/2 * * * *")
	cur.ResourceVersion = "2"
	f := newFixture(t, t0.Add(30*time.Second), cur)
	f.c.updateCronJob(old, cur)
	if n := f.c.queue.Len(); n != 0 {
		t.Fatalf("got %d keys ready at once, want the key delayed", n)
	}
	f.clock.Step(90*time.Second + nextScheduleDelta)
	if key := next(t, f.c); key != "default/c" {
		t.Errorf("got key %q, want default/c", key)
	}
}
