package kubelet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// requestToken asks the API for a token of ServiceAccount ns/name
// (serviceaccounts/NAME/token).
type requestToken func(ctx context.Context, ns, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)

const (
	// tokenMaxTTL: a token is renewed at least this often, however
	// long it lives.
	tokenMaxTTL = 24 * time.Hour
	// tokenMaxJitter spreads the renewals of tokens made together.
	tokenMaxJitter = 10 * time.Second
)

// tokenManager caches the ServiceAccount tokens of the node's pods'
// projected volumes and renews each at 80 % of its lifetime, or after
// 24 h, as the kubelet's token manager (pkg/kubelet/token) does: the
// volumes are rewritten every resync, and a token is asked for again only
// when it is due. When the API cannot be reached, a token still valid is
// kept.
type tokenManager struct {
	request requestToken
	clock   clock.WithTicker
	// jitter is at most tokenMaxJitter; tests fix it.
	jitter func() time.Duration

	mu    sync.Mutex
	cache map[string]*authenticationv1.TokenRequest
}

func newTokenManager(request requestToken) *tokenManager {
	return &tokenManager{
		request: request,
		clock:   clock.RealClock{},
		jitter:  func() time.Duration { return time.Duration(rand.Float64()*tokenMaxJitter.Seconds()) * time.Second },
		cache:   map[string]*authenticationv1.TokenRequest{},
	}
}

// token returns a token for ns/name as tr asks, from the cache when it is
// not due for renewal.
func (m *tokenManager) token(ctx context.Context, ns, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	key := tokenKey(ns, name, tr)
	m.mu.Lock()
	cached, ok := m.cache[key]
	m.mu.Unlock()
	if ok && !m.requiresRefresh(cached) {
		return cached, nil
	}
	got, err := m.request(ctx, ns, name, tr)
	if err != nil {
		if ok && !m.expired(cached) {
			klog.FromContext(ctx).Error(err, "renewing a ServiceAccount token; the current one is kept", "serviceAccount", ns+"/"+name)
			return cached, nil
		}
		return nil, err
	}
	if got.Spec.ExpirationSeconds == nil {
		return nil, fmt.Errorf("the token request for %s/%s came back without spec.expirationSeconds", ns, name)
	}
	m.mu.Lock()
	m.cache[key] = got
	m.mu.Unlock()
	return got, nil
}

func (m *tokenManager) expired(tr *authenticationv1.TokenRequest) bool {
	return m.clock.Now().After(tr.Status.ExpirationTimestamp.Time)
}

// requiresRefresh: past 80 % of the token's lifetime, or 24 h after it
// was issued (less a jitter each).
func (m *tokenManager) requiresRefresh(tr *authenticationv1.TokenRequest) bool {
	if tr.Spec.ExpirationSeconds == nil {
		return false
	}
	now := m.clock.Now()
	exp := tr.Status.ExpirationTimestamp.Time
	life := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	iat := exp.Add(-life)
	jitter := m.jitter()
	if now.After(iat.Add(tokenMaxTTL - jitter)) {
		return true
	}
	return now.After(exp.Add(-life*20/100 - jitter))
}

// deletePod forgets the tokens bound to the pod.
func (m *tokenManager) deletePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, tr := range m.cache {
		if ref := tr.Spec.BoundObjectRef; ref != nil && ref.UID == uid {
			delete(m.cache, k)
		}
	}
}

// cleanup forgets expired tokens (of pods gone without deletePod).
func (m *tokenManager) cleanup() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, tr := range m.cache {
		if m.expired(tr) {
			delete(m.cache, k)
		}
	}
}

// run cleans up every minute until ctx ends.
func (m *tokenManager) run(ctx context.Context) {
	t := m.clock.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			m.cleanup()
		}
	}
}

func tokenKey(ns, name string, tr *authenticationv1.TokenRequest) string {
	var exp int64
	if tr.Spec.ExpirationSeconds != nil {
		exp = *tr.Spec.ExpirationSeconds
	}
	var ref authenticationv1.BoundObjectReference
	if tr.Spec.BoundObjectRef != nil {
		ref = *tr.Spec.BoundObjectRef
	}
	return fmt.Sprintf("%q/%q/%#v/%#v/%#v", name, ns, tr.Spec.Audiences, exp, ref)
}
