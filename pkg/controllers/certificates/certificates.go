package certificates

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/client-go/informers"
	certinformers "k8s.io/client-go/informers/certificates/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	upstream "k8s.io/kubernetes/pkg/controller/certificates"
	"k8s.io/kubernetes/pkg/controller/certificates/approver"
	"k8s.io/kubernetes/pkg/controller/certificates/cleaner"
	"k8s.io/kubernetes/pkg/controller/certificates/signer"
)

// DefaultSigningDuration is kube-controller-manager's
// --cluster-signing-duration: a year.
const DefaultSigningDuration = 365 * 24 * time.Hour

// Approver is the csrapproving controller.
type Approver struct {
	c *upstream.CertificateController
}

// NewApprover approves node client certificate requests as their
// requesters' SubjectAccessReviews allow.
func NewApprover(cs kubernetes.Interface, factory informers.SharedInformerFactory) *Approver {
	return &Approver{c: approver.NewCSRApprovingController(context.Background(), cs, factory.Certificates().V1().CertificateSigningRequests())}
}

// Run approves until ctx ends.
func (a *Approver) Run(ctx context.Context, workers int) { a.c.Run(ctx, workers) }

// SigningConfig is the cluster CA the signer signs with.
type SigningConfig struct {
	// CertFile and KeyFile are the CA's PEM certificate and key; both
	// empty: nothing is signed.
	CertFile, KeyFile string
	// Duration is the longest validity given; a request's
	// spec.expirationSeconds may ask for less (not under 10 minutes).
	Duration time.Duration
}

// Signer is the csrsigning controller: one upstream signer per signer
// name, on one CA.
type Signer struct {
	signers []*signer.CSRSigningController
}

// NewSigner signs approved requests of Kubernetes' four signer names with
// cfg's CA. The CA files are reloaded when they change.
func NewSigner(cs kubernetes.Interface, factory informers.SharedInformerFactory, cfg SigningConfig) (*Signer, error) {
	s := &Signer{}
	if cfg.CertFile == "" && cfg.KeyFile == "" {
		return s, nil
	}
	csrs := factory.Certificates().V1().CertificateSigningRequests()
	for _, newSigner := range []func(context.Context, kubernetes.Interface, certinformers.CertificateSigningRequestInformer, string, string, time.Duration) (*signer.CSRSigningController, error){
		signer.NewKubeletServingCSRSigningController,
		signer.NewKubeletClientCSRSigningController,
		signer.NewKubeAPIServerClientCSRSigningController,
		signer.NewLegacyUnknownCSRSigningController,
	} {
		c, err := newSigner(context.Background(), cs, csrs, cfg.CertFile, cfg.KeyFile, cfg.Duration)
		if err != nil {
			return nil, fmt.Errorf("--cluster-signing-cert-file/--cluster-signing-key-file: %w", err)
		}
		s.signers = append(s.signers, c)
	}
	return s, nil
}

// Run signs until ctx ends.
func (s *Signer) Run(ctx context.Context, workers int) {
	if len(s.signers) == 0 {
		klog.FromContext(ctx).Info("csrsigning: no --cluster-signing-cert-file/--cluster-signing-key-file, certificate requests are not signed")
		<-ctx.Done()
		return
	}
	var wg sync.WaitGroup
	for _, c := range s.signers {
		wg.Go(func() { c.Run(ctx, workers) })
	}
	wg.Wait()
}

// Cleaner is the csrcleaner controller.
type Cleaner struct {
	c *cleaner.CSRCleanerController
}

// NewCleaner deletes requests that are done with (every hour, as
// upstream).
func NewCleaner(cs kubernetes.Interface, factory informers.SharedInformerFactory) *Cleaner {
	return &Cleaner{c: cleaner.NewCSRCleanerController(cs.CertificatesV1().CertificateSigningRequests(), factory.Certificates().V1().CertificateSigningRequests())}
}

// Run cleans until ctx ends.
func (c *Cleaner) Run(ctx context.Context, workers int) { c.c.Run(ctx, workers) }
