package cronjob

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
)

// nextScheduleDelta pads every requeue, as upstream does, so that a clock
// a little behind the one that set the timer still finds the schedule due.
const nextScheduleDelta = 100 * time.Millisecond

// tooManyMissed is upstream's threshold: more missed start times than this
// since the last schedule means a wrong clock or a long outage, and earns a
// TooManyMissedTimes warning.
const tooManyMissed = 100

// missed says how many schedules passed unrun since the last one.
type missed int

const (
	noneMissed missed = iota
	fewMissed
	manyMissed
)

// formatSchedule is the schedule handed to the cron parser: spec.timeZone
// becomes a TZ= prefix unless the schedule carries its own CRON_TZ= or TZ=
// (which upstream accepts but warns about with UnsupportedSchedule). A
// recorder of nil records nothing.
func formatSchedule(cj *batchv1.CronJob, recorder record.EventRecorder) string {
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		if recorder != nil {
			recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule",
				"CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
		}
		return cj.Spec.Schedule
	}
	if cj.Spec.TimeZone != nil {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			return cj.Spec.Schedule
		}
		return fmt.Sprintf("TZ=%s %s", *cj.Spec.TimeZone, cj.Spec.Schedule)
	}
	return cj.Spec.Schedule
}

// parseSchedule parses standard cron syntax (five fields or a @descriptor,
// optionally prefixed by TZ=/CRON_TZ=). The parser panics on some inputs,
// which become errors here.
func parseSchedule(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("invalid schedule format: %v", r)
		}
	}()
	return cron.ParseStandard(spec)
}

// mostRecentScheduleTime returns the time counted from (the last schedule
// time, else the creation time; with withDeadline, no earlier than now less
// startingDeadlineSeconds), the most recent schedule time in (that, now]
// or nil, and how many were missed. It never walks more than a couple of
// schedules: the number missed is estimated from the interval between two
// consecutive ones, so a CronJob last run years ago costs no more than one
// run a minute ago. A schedule that parses but can never fire twice (the
// 31st of February) is an error.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, withDeadline bool) (time.Time, *time.Time, missed, error) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if withDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if deadline := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second); deadline.After(earliest) {
			earliest = deadline
		}
	}
	t1 := sched.Next(earliest)
	t2 := sched.Next(t1)
	if now.Before(t1) {
		return earliest, nil, noneMissed, nil
	}
	if now.Before(t2) {
		return earliest, &t1, noneMissed, nil
	}
	interval := int64(t2.Sub(t1).Round(time.Second).Seconds())
	if interval < 1 {
		return earliest, nil, noneMissed, errors.New("time difference between two schedules is less than 1 second")
	}
	n := int64(now.Sub(t1).Seconds())/interval + 1
	// Start one interval before the estimate and let the parser find the
	// real times: schedules like "30 6-16/4 * * 1-5" are not evenly spaced.
	var recent time.Time
	for t := sched.Next(t1.Add(time.Duration((n-2)*interval) * time.Second)); !t.After(now); t = sched.Next(t) {
		recent = t
	}
	m := fewMissed
	if n > tooManyMissed {
		m = manyMissed
	}
	if recent.IsZero() {
		return earliest, nil, m, nil
	}
	return earliest, &recent, m, nil
}

// nextScheduleTime is the schedule time a Job is due for now, or nil; it
// records TooManyMissedTimes when more than 100 were missed. Only the most
// recent missed time is ever run, so a controller back from an outage
// starts one Job, not one per missed schedule.
func nextScheduleTime(cj *batchv1.CronJob, now time.Time, sched cron.Schedule, recorder record.EventRecorder) (*time.Time, error) {
	_, recent, m, err := mostRecentScheduleTime(cj, now, sched, true)
	if recent == nil || recent.After(now) {
		return nil, err
	}
	if m == manyMissed {
		recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	return recent, err
}

// nextScheduleTimeDuration is how long until the next schedule time after
// the last one handled (or after now, if some were missed), plus
// nextScheduleDelta.
func nextScheduleTimeDuration(cj *batchv1.CronJob, now time.Time, sched cron.Schedule) *time.Duration {
	earliest, recent, m, err := mostRecentScheduleTime(cj, now, sched, false)
	switch {
	case err != nil:
		recent = &now
	case recent == nil && m == noneMissed:
		recent = &earliest
	case recent == nil:
		recent = &now
	}
	d := sched.Next(*recent).Add(nextScheduleDelta).Sub(now)
	return &d
}

// jobName is deterministic per scheduled minute, so that a Job is never
// created twice for the same schedule time, even across restarts.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate is the Job a CronJob runs at scheduled: the template's
// labels, annotations and spec, the CronJob as controller, and the
// scheduled time (in the CronJob's time zone) as annotation.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	loc, err := time.LoadLocation(ptr.Deref(cj.Spec.TimeZone, ""))
	if err != nil {
		return nil, fmt.Errorf("loading time zone: %w", err)
	}
	labels := make(map[string]string, len(cj.Spec.JobTemplate.Labels))
	for k, v := range cj.Spec.JobTemplate.Labels {
		labels[k] = v
	}
	annotations := make(map[string]string, len(cj.Spec.JobTemplate.Annotations)+1)
	for k, v := range cj.Spec.JobTemplate.Annotations {
		annotations[k] = v
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          labels,
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	return job, nil
}
