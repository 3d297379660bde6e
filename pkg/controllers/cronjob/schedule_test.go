package cronjob

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

func TestNextScheduleTime(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		schedule   string
		timeZone   *string
		created    string
		last       string // status.lastScheduleTime, if any
		deadline   *int64
		now        string
		want       string // empty: nothing due
		wantEvents []string
		wantErr    bool
	}{
		{name: "not yet due", schedule: "*/5 * * * *", created: "2026-01-05T10:00:00Z", now: "2026-01-05T10:04:59Z"},
		{name: "due on the dot", schedule: "*/5 * * * *", created: "2026-01-05T10:00:00Z", now: "2026-01-05T10:05:00Z", want: "2026-01-05T10:05:00Z"},
		{name: "due a little late", schedule: "*/5 * * * *", created: "2026-01-05T10:00:00Z", now: "2026-01-05T10:07:00Z", want: "2026-01-05T10:05:00Z"},
		{name: "last run counts, not creation", schedule: "*/5 * * * *", created: "2026-01-05T08:00:00Z", last: "2026-01-05T10:05:00Z",
			now: "2026-01-05T10:09:00Z"},
		{name: "only the most recent missed time", schedule: "*/5 * * * *", created: "2026-01-05T08:00:00Z", last: "2026-01-05T10:05:00Z",
			now: "2026-01-05T10:37:30Z", want: "2026-01-05T10:35:00Z"},
		{name: "uneven schedule", schedule: "30 6-16/4 * * 1-5", created: "2026-01-05T00:00:00Z", now: "2026-01-06T12:00:00Z",
			want: "2026-01-06T10:30:00Z"},
		{name: "more than 100 missed warns and still runs the latest", schedule: "* * * * *", created: "2026-01-05T07:00:00Z",
			now: "2026-01-05T10:00:30Z", want: "2026-01-05T10:00:00Z", wantEvents: []string{"TooManyMissedTimes"}},
		{name: "starting deadline bounds the missed count", schedule: "* * * * *", created: "2026-01-05T07:00:00Z", deadline: ptr.To[int64](200),
			now: "2026-01-05T10:00:30Z", want: "2026-01-05T10:00:00Z"},
		{name: "time zone", schedule: "0 9 * * *", timeZone: ptr.To("Asia/Tokyo"), created: "2026-01-04T12:00:00Z",
			now: "2026-01-05T00:00:01Z", want: "2026-01-05T00:00:00Z"},
		{name: "time zone, not yet 9:00 in it", schedule: "0 9 * * *", timeZone: ptr.To("America/New_York"), created: "2026-01-05T10:00:00Z",
			now: "2026-01-05T13:59:00Z"},
		{name: "CRON_TZ in the schedule warns", schedule: "CRON_TZ=America/New_York 0 9 * * *", created: "2026-01-05T10:00:00Z",
			now: "2026-01-05T14:00:05Z", want: "2026-01-05T14:00:00Z", wantEvents: []string{"UnsupportedSchedule"}},
		{name: "TZ in the schedule wins over timeZone", schedule: "TZ=UTC 0 9 * * *", timeZone: ptr.To("Asia/Tokyo"), created: "2026-01-05T00:00:00Z",
			now: "2026-01-05T09:00:05Z", want: "2026-01-05T09:00:00Z", wantEvents: []string{"UnsupportedSchedule"}},
		{name: "a day that never comes", schedule: "59 23 31 2 *", created: "2026-01-05T10:00:00Z", now: "2026-03-05T10:00:00Z", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := &batchv1.CronJob{
				ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default", CreationTimestamp: metav1.NewTime(at(tt.created))},
				Spec:       batchv1.CronJobSpec{Schedule: tt.schedule, TimeZone: tt.timeZone, StartingDeadlineSeconds: tt.deadline},
			}
			if tt.last != "" {
				cj.Status.LastScheduleTime = &metav1.Time{Time: at(tt.last)}
			}
			rec := record.NewFakeRecorder(10)
			sched, err := parseSchedule(formatSchedule(cj, rec))
			if err != nil {
				t.Fatalf("parsing %q: %v", tt.schedule, err)
			}
			got, err := nextScheduleTime(cj, at(tt.now), sched, rec)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("got %s due, want nothing", got.UTC().Format(time.RFC3339))
			case tt.want != "" && got == nil:
				t.Errorf("got nothing due, want %s", tt.want)
			case tt.want != "" && !got.Equal(at(tt.want)):
				t.Errorf("got %s due, want %s", got.UTC().Format(time.RFC3339), tt.want)
			}
			if got := reasons(rec); strings.Join(got, ",") != strings.Join(tt.wantEvents, ",") {
				t.Errorf("got events %v, want %v", got, tt.wantEvents)
			}
		})
	}
}

func TestNextScheduleTimeDuration(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		last *time.Time
		now  time.Time
		want time.Duration
	}{
		{"waiting for the first run", nil, t0.Add(time.Minute), 4*time.Minute + nextScheduleDelta},
		{"just ran", ptr.To(t0.Add(5 * time.Minute)), t0.Add(5*time.Minute + 2*time.Second), 5*time.Minute - 2*time.Second + nextScheduleDelta},
		// Missed runs: the next one after now, not after the last run.
		{"missed some", ptr.To(t0.Add(5 * time.Minute)), t0.Add(17 * time.Minute), 3*time.Minute + nextScheduleDelta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := &batchv1.CronJob{
				ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)},
				Spec:       batchv1.CronJobSpec{Schedule: "*/5 * * * *"},
			}
			if tt.last != nil {
				cj.Status.LastScheduleTime = &metav1.Time{Time: *tt.last}
			}
			sched, err := parseSchedule(cj.Spec.Schedule)
			if err != nil {
				t.Fatal(err)
			}
			if got := *nextScheduleTimeDuration(cj, tt.now, sched); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestJobFromTemplate(t *testing.T) {
	cj := newCronJob("nightly", "0 2 * * *", func(cj *batchv1.CronJob) {
		cj.Spec.TimeZone = ptr.To("Europe/Berlin")
		cj.Spec.JobTemplate.Labels = map[string]string{"team": "a"}
		cj.Spec.JobTemplate.Annotations = map[string]string{"note": "x"}
	})
	scheduled := time.Date(2026, 1, 5, 1, 0, 0, 0, time.UTC) // 02:00 in Berlin
	job, err := jobFromTemplate(cj, scheduled)
	if err != nil {
		t.Fatal(err)
	}
	if want := "nightly-29459580"; job.Name != want {
		t.Errorf("got name %q, want %q", job.Name, want)
	}
	if got, want := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation], "2026-01-05T02:00:00+01:00"; got != want {
		t.Errorf("got scheduled-timestamp %q, want %q", got, want)
	}
	if job.Labels["team"] != "a" || job.Annotations["note"] != "x" {
		t.Errorf("got labels %v annotations %v, want the template's", job.Labels, job.Annotations)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" || ref.APIVersion != "batch/v1" {
		t.Errorf("got controller %+v, want the CronJob", ref)
	}
	if job.Spec.Template.Spec.Containers[0].Image != "busybox" {
		t.Errorf("got spec %+v, want the template's", job.Spec)
	}
	job.Labels["team"] = "b"
	if cj.Spec.JobTemplate.Labels["team"] != "a" {
		t.Error("the Job shares its labels map with the template")
	}
}
