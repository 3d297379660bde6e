package podautoscaler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	upstream "k8s.io/kubernetes/pkg/controller/podautoscaler"
	"k8s.io/kubernetes/pkg/controller/podautoscaler/metrics"
	resourceclient "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
	"k8s.io/metrics/pkg/client/custom_metrics"
	"k8s.io/metrics/pkg/client/external_metrics"
)

// Config holds kube-controller-manager's --horizontal-pod-autoscaler-*
// settings.
type Config struct {
	// SyncPeriod is how often every autoscaler is evaluated.
	SyncPeriod time.Duration
	// DownscaleStabilization is how far back the highest recommendation
	// is kept when scaling down, for autoscalers without
	// behavior.scaleDown.stabilizationWindowSeconds.
	DownscaleStabilization time.Duration
	// Tolerance is how far the usage ratio may be from 1 without a
	// change.
	Tolerance float64
	// CPUInitializationPeriod is how long after it starts a pod's CPU may
	// be left out, and InitialReadinessDelay how long after it starts a
	// pod's readiness changes are taken as its start-up.
	CPUInitializationPeriod time.Duration
	InitialReadinessDelay   time.Duration
}

// DefaultConfig is kube-controller-manager's defaults.
func DefaultConfig() Config {
	return Config{
		SyncPeriod:              15 * time.Second,
		DownscaleStabilization:  5 * time.Minute,
		Tolerance:               0.1,
		CPUInitializationPeriod: 5 * time.Minute,
		InitialReadinessDelay:   30 * time.Second,
	}
}

// Validate checks c.
func (c Config) Validate() error {
	var errs []error
	if c.SyncPeriod <= 0 {
		errs = append(errs, errors.New("--horizontal-pod-autoscaler-sync-period must be positive"))
	}
	if c.DownscaleStabilization < 0 || c.CPUInitializationPeriod < 0 || c.InitialReadinessDelay < 0 {
		errs = append(errs, errors.New("--horizontal-pod-autoscaler-downscale-stabilization, -cpu-initialization-period and -initial-readiness-delay must not be negative"))
	}
	if c.Tolerance < 0 {
		errs = append(errs, errors.New("--horizontal-pod-autoscaler-tolerance must not be negative"))
	}
	return errors.Join(errs...)
}

// Controller is upstream's HorizontalController with the refresh of the
// custom metrics API versions it needs beside it.
type Controller struct {
	hpa         *upstream.HorizontalController
	apiVersions custom_metrics.AvailableAPIsGetter
	syncPeriod  time.Duration
}

// New builds the controller as kube-controller-manager does: its clients
// (scale, resource, custom and external metrics) from rc, the REST mapper
// from client's discovery (cached, refreshed when a kind is not found),
// the autoscaler and pod informers from factory. Its events go out
// through client as horizontal-pod-autoscaler.
func New(ctx context.Context, rc *rest.Config, client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config) (*Controller, error) {
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(client.Discovery()))
	// Upstream's comment: no cached discovery here, the resolver caches.
	scales, err := scale.NewForConfig(rc, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(client.Discovery()))
	if err != nil {
		return nil, fmt.Errorf("creating the scale client: %w", err)
	}
	resources, err := resourceclient.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the resource metrics client: %w", err)
	}
	external, err := external_metrics.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the external metrics client: %w", err)
	}
	apiVersions := custom_metrics.NewAvailableAPIsGetter(client.Discovery())
	mc := metrics.NewRESTMetricsClient(resources, custom_metrics.NewForConfig(rc, mapper, apiVersions), external)
	hpa := upstream.NewHorizontalController(ctx,
		client.CoreV1(), scales, client.AutoscalingV2(), mapper, mc,
		factory.Autoscaling().V2().HorizontalPodAutoscalers(), factory.Core().V1().Pods(),
		cfg.SyncPeriod, cfg.DownscaleStabilization, cfg.Tolerance, cfg.CPUInitializationPeriod, cfg.InitialReadinessDelay)
	return &Controller{hpa: hpa, apiVersions: apiVersions, syncPeriod: cfg.SyncPeriod}, nil
}

// Run runs workers workers until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	wg.Go(func() { custom_metrics.PeriodicallyInvalidate(c.apiVersions, c.syncPeriod, ctx.Done()) })
	wg.Go(func() { c.hpa.Run(ctx, workers) })
	wg.Wait()
}
