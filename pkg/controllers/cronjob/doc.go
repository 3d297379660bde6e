// Package cronjob runs batch/v1 CronJobs as kube-controller-manager's
// cronjob-controller (v2) does: at each time the schedule (standard cron
// syntax, in spec.timeZone or a CRON_TZ=/TZ= prefix) comes due it creates a
// Job named after the CronJob and the scheduled minute, so that no schedule
// runs twice; it applies concurrencyPolicy (Allow, Forbid, Replace),
// startingDeadlineSeconds and suspend, runs only the most recent of several
// missed schedules (no burst of catch-up runs after an outage), prunes
// finished Jobs beyond the history limits, and keeps status.active,
// lastScheduleTime and lastSuccessfulTime. Between schedules a CronJob
// waits in a delaying queue until its next schedule time; nothing polls.
package cronjob
