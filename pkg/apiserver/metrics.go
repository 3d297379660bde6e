package apiserver

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

var (
	metricsOnce     sync.Once
	requestTotal    *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
)

func registerMetrics() {
	metricsOnce.Do(func() {
		requestTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Requests served, by verb, resource and HTTP code.",
		}, []string{"verb", "resource", "subresource", "code"})
		requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "apiserver_request_duration_seconds",
			Help:    "Request latency (watches excluded), by verb and resource.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"verb", "resource", "subresource"})
		prometheus.MustRegister(requestTotal, requestDuration)
	})
}

func metricsHandler() http.Handler {
	registerMetrics()
	return promhttp.Handler()
}

// request labels, filled by the resource handler.
const (
	ctxVerb        = "minik8s.verb"
	ctxResource    = "minik8s.resource"
	ctxSubresource = "minik8s.subresource"
)

func instrument(c *gin.Context) {
	registerMetrics()
	start := time.Now()
	c.Next()
	verb, resource, sub := c.GetString(ctxVerb), c.GetString(ctxResource), c.GetString(ctxSubresource)
	if verb == "" {
		verb = c.Request.Method
	}
	requestTotal.WithLabelValues(verb, resource, sub, strconv.Itoa(c.Writer.Status())).Inc()
	if verb != "watch" {
		requestDuration.WithLabelValues(verb, resource, sub).Observe(time.Since(start).Seconds())
	}
}
