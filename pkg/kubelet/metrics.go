package kubelet

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stepSeconds times each step of starting a pod, so that a slow burst of
// starts shows where it waits (bench/lab prints the means from /metrics).
var stepSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
	Name:    "kubelet_pod_start_step_duration_seconds",
	Help:    "Duration of the steps of starting a pod: netns, cni_add, image, spec, snapshot, container_create, task_create, task_start, status_write, and pod_start (first seen to Running posted).",
	Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
}, []string{"step"})

func init() { prometheus.MustRegister(stepSeconds) }

// observeStep records the time since start for step.
func observeStep(step string, start time.Time) {
	stepSeconds.WithLabelValues(step).Observe(time.Since(start).Seconds())
}
