package tokencleaner

import (
	"context"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/controller/bootstrap"
)

// Controller is the tokencleaner.
type Controller struct {
	c *bootstrap.TokenCleaner
}

// New watches kube-system's Secrets through factory.
func New(cs kubernetes.Interface, factory informers.SharedInformerFactory) (*Controller, error) {
	c, err := bootstrap.NewTokenCleaner(cs, factory.Core().V1().Secrets(), bootstrap.DefaultTokenCleanerOptions())
	if err != nil {
		return nil, err
	}
	return &Controller{c: c}, nil
}

// Run deletes expired tokens until ctx ends; upstream's cleaner has one
// worker.
func (c *Controller) Run(ctx context.Context, _ int) { c.c.Run(ctx) }
