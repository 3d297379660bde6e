package apiserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"
	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/kubernetes/pkg/capabilities"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
	token "k8s.io/kubernetes/pkg/serviceaccount"
)

// Server is a running apiserver: its etcd (embedded or not), its store and
// its HTTP listeners.
type Server struct {
	cfg    *Config
	etcd   *storage.Etcd
	client *clientv3.Client
	store  *storage.Store
	alloc  *serviceAllocator
	// admission is the admission chain, in Kubernetes' order.
	admission []admissionPlugin
	// dynamic is the admission configured through the API (webhooks and
	// ValidatingAdmissionPolicies), a step of admission; nil when its
	// plugins are turned off.
	dynamic *dynamicAdmission
	// loopback reaches the server's own API.
	loopback *loopback
	// namespaces caches the namespaces for the create-time check.
	namespaces *nsCache
	// crds serves the custom resources.
	crds *crds
	// openapiV2 serves /openapi/v2.
	openapiV2 openAPIV2
	// fields are the server-side apply field managers, per resource.
	fields fieldManagers
	infos  *request.RequestInfoFactory
	strict runtime.Serializer
	proto  runtime.Serializer
	engine *gin.Engine
	logger *log.Logger
	// authenticator and authorizer decide who a request is and what it
	// may do (auth.go); loopbackToken is the loopback client's
	// credential, made anew at every start.
	authenticator authenticator.Request
	authorizer    authorizer.Authorizer
	loopbackToken string
	// serviceAccounts issues and verifies ServiceAccount tokens
	// (satoken.go); tokenAuthenticator is what TokenReview asks.
	serviceAccounts    *serviceAccounts
	tokenAuthenticator authenticator.Request
	// rbac is the RBAC authorizer, answering once rbacSynced is closed;
	// rules resolves the authorizers' rules (SelfSubjectRulesReview) and
	// escalation the RBAC rules a user holds, read from storage (the
	// escalation checks on writes of roles and bindings).
	rbac       untilSynced
	rbacSynced chan struct{}
	rules      authorizer.RuleResolver
	escalation rbacregistryvalidation.AuthorizationRuleResolver
	// reviewers answer the virtual resources (review.go).
	reviewers map[schema.GroupResource]review
	// audit is the audit log, nil without --audit-log-path (audit.go).
	audit *auditing
	// kubeletTransport reaches the agents' kubelet API; kubeletTLS: over
	// TLS with the apiserver's kubelet client certificate.
	kubeletTransport http.RoundTripper
	kubeletTLS       bool
	// podTransport reaches pods for pods/proxy and services/proxy
	// (podnetwork.go).
	podTransport http.RoundTripper
	// nodeAuthorizer is the Node authorizer of the chain (nodes.go).
	nodeAuthorizer authorizer.Authorizer
	// metrics serves metrics.k8s.io from the agents' resource metrics
	// (resourcemetrics.go).
	metrics *resourceMetrics

	listeners []net.Listener
	// secure tells, per listener, whether it serves TLS (tls).
	secure    []bool
	tls       tlsState
	servers   []*http.Server
	errc      chan error
	cancel    context.CancelFunc
	closeOnce sync.Once
}

// Start brings up etcd (unless cfg.EtcdServers), the store, the bootstrap
// objects and the listeners. cfg must have passed Validate.
func Start(ctx context.Context, cfg *Config) (*Server, error) {
	s := &Server{
		cfg:    cfg,
		logger: log.New(os.Stderr, "apiserver: ", log.LstdFlags),
		errc:   make(chan error, 1+len(cfg.Listen)+len(cfg.InsecureListen)),
		infos: &request.RequestInfoFactory{
			APIPrefixes:          sets.NewString("api", "apis"),
			GrouplessAPIPrefixes: sets.NewString("api"),
		},
		strict: json.NewSerializerWithOptions(json.DefaultMetaFactory, api.Scheme, api.Scheme, json.SerializerOptions{Strict: true}),
		proto:  protobufInfo.Serializer,
	}
	if err := setAllowPrivileged(cfg.AllowPrivileged); err != nil {
		return nil, err
	}
	// Listen first: a taken port is the commonest failure, and it should
	// not cost an etcd start.
	for _, ln := range cfg.listens() {
		l, err := net.Listen("tcp", ln.addr)
		if err != nil {
			s.closeListeners()
			if errors.Is(err, syscall.EADDRINUSE) {
				return nil, fmt.Errorf("listen tcp %s: address already in use — is another apiserver running?", ln.addr)
			}
			return nil, fmt.Errorf("listening on %s: %w", ln.addr, err)
		}
		s.listeners = append(s.listeners, l)
		s.secure = append(s.secure, ln.secure)
	}
	if err := s.setupTLS(); err != nil {
		s.closeListeners()
		return nil, err
	}
	storeOpts := []storage.Option{storage.WithDecoded(s.readCustom)}
	if cfg.EncryptionProviderConfig != "" {
		f, err := encryptionAtRest(ctx, cfg.EncryptionProviderConfig)
		if err != nil {
			s.closeListeners()
			return nil, err
		}
		storeOpts = append(storeOpts, storage.WithTransformers(f))
	}
	var err error
	if s.audit, err = newAuditing(cfg); err != nil {
		s.closeListeners()
		return nil, err
	}
	endpoints := cfg.EtcdServers
	if len(endpoints) == 0 {
		ecfg := storage.NewEtcdConfig(cfg.DataDir)
		ecfg.UnsafeNoFsync = cfg.UnsafeNoFsync
		e, err := storage.StartEtcd(ctx, ecfg)
		if err != nil {
			s.closeListeners()
			return nil, err
		}
		s.etcd = e
		endpoints = []string{e.Endpoint()}
	}
	client, err := storage.NewClient(endpoints)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.client = client
	s.store = storage.New(client, storeOpts...)
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if len(cfg.EtcdServers) > 0 {
		go storage.Compact(runCtx, client, 5*time.Minute)
	}
	if s.kubeletTransport, s.kubeletTLS, err = kubeletTransport(cfg); err != nil {
		s.Close()
		return nil, err
	}
	s.podTransport = s.newPodTransport()
	s.metrics = s.newResourceMetrics()
	// Admission plugins that read the API do it through informers on this
	// server itself; they start once the listeners serve.
	s.loopbackToken = newLoopbackToken()
	if s.loopback, err = newLoopback(s.loopbackConfig()); err != nil {
		s.Close()
		return nil, err
	}
	if s.alloc, err = newServiceAllocator(s, s.loopback.clientset, cfg.serviceCIDR, cfg.nodePortFirst, cfg.nodePortLast); err != nil {
		s.Close()
		return nil, err
	}
	nodeRestriction, err := newNodeRestriction(s.loopback)
	if err != nil {
		s.Close()
		return nil, err
	}
	// NodeRestriction first, as upstream orders it after the namespace
	// checks.
	s.admission = []admissionPlugin{nodeRestriction, &limitRanger{limits: s.loopback.limitRangeLister()}}
	if !slices.Contains(cfg.DisableAdmissionPlugins, serviceAccountPluginName) {
		s.admission = append(s.admission, newServiceAccountAdmission(s))
	}
	s.admission = append(s.admission,
		newPriority(s, s.loopback),
		defaultTolerationSeconds{notReady: cfg.DefaultNotReadyTolerationSeconds, unreachable: cfg.DefaultUnreachableTolerationSeconds},
		newRuntimeClassAdmission(s.loopback),
		newServiceAllocation(s),
		storageObjectInUseProtection{},
		// Upstream checks escalation in the RBAC kinds' storage, after
		// mutating admission.
		rbacEscalation{s},
		// ResourceQuota last, as upstream orders it.
		newResourceQuota(s.loopback.resourceQuotaLister(), s.loopback.core),
	)
	s.namespaces = newNSCache()
	go s.namespaces.run(runCtx, s.store)
	if s.crds, err = newCRDs(s, s.loopback.dyn); err != nil {
		s.Close()
		return nil, err
	}
	bctx, bcancel := context.WithTimeout(ctx, 60*time.Second)
	defer bcancel()
	// The custom resources of established definitions are served from the
	// first request on.
	if _, err := s.crds.sync(bctx, false); err != nil {
		s.Close()
		return nil, fmt.Errorf("reading the custom resource definitions: %w", err)
	}
	s.engine = s.routes()
	if s.serviceAccounts, err = s.newServiceAccounts(); err != nil {
		s.Close()
		return nil, err
	}
	s.tokenAuthenticator = group.NewAuthenticatedGroupAdder(s.serviceAccounts.authenticator)
	tokenAuth := []authenticator.Request{s.tls.clientCerts, s.serviceAccounts.authenticator}
	if cfg.EnableBootstrapTokenAuth {
		tokenAuth = append(tokenAuth, s.bootstrapTokenAuthenticator())
	}
	s.authenticator = s.authenticators(tokenAuth...)
	s.nodeAuthorizer = s.newNodeAuthorizer()
	s.rbacSynced = make(chan struct{})
	rbacAuthz, err := s.loopback.rbacAuthorizer()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.rbac = untilSynced{synced: s.rbacSynced, authz: rbacAuthz}
	s.escalation = storedPolicy{s}.resolver()
	modes := s.authorizationModes()
	s.rules = ruleResolvers(modes)
	if s.authorizer, err = authorizers(modes...); err != nil {
		s.Close()
		return nil, err
	}
	if err := nodeRestriction.setAuthorizer(s.authorizer); err != nil {
		s.Close()
		return nil, err
	}
	if s.dynamic, err = newDynamicAdmission(s, runCtx.Done()); err != nil {
		s.Close()
		return nil, err
	}
	if s.dynamic != nil {
		// Before ResourceQuota, the chain's last step, as upstream orders them.
		s.admission = slices.Insert(s.admission, len(s.admission)-1, admissionPlugin(s.dynamic))
	}
	s.reviewers = s.reviews()
	handler := s.handler()
	for i, l := range s.listeners {
		hs := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
		serve := hs.Serve
		if s.secure[i] {
			// ServeTLS adds HTTP/2 as kube-apiserver offers it.
			hs.TLSConfig = s.tls.config.Clone()
			serve = func(l net.Listener) error { return hs.ServeTLS(l, "", "") }
		}
		s.servers = append(s.servers, hs)
		go func(l net.Listener) {
			if err := serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.errc <- fmt.Errorf("serving on %s: %w", l.Addr(), err)
			}
		}(l)
	}
	// The webhooks' and policies' informers list through the listeners;
	// requests wait for their first listing (the plugins' readiness).
	if s.dynamic != nil {
		s.dynamic.start(runCtx)
	}
	// The IP allocator reads its informer's cache, which lists through
	// the listeners.
	if err := s.alloc.start(runCtx, bctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("starting the service allocators: %w", err)
	}
	if err := s.bootstrap(bctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("creating the default objects: %w", err)
	}
	if err := s.registerLocalAPIServices(bctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.alloc.repair(runCtx, bctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("repairing the service allocations: %w", err)
	}
	policyStart := time.Now()
	if err := s.reconcileRBACPolicy(bctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("reconciling the bootstrap RBAC policy: %w", err)
	}
	if !s.loopback.startRBAC(runCtx, bctx) {
		s.Close()
		return nil, fmt.Errorf("loading the RBAC policy: %w", bctx.Err())
	}
	close(s.rbacSynced)
	s.logf("RBAC bootstrap policy reconciled and loaded in %v", time.Since(policyStart).Round(time.Millisecond))
	// The reconciliation's requests leave some 4 MB of garbage the heap
	// would keep until the scavenger gets to it; an idle server should
	// not carry it.
	debug.FreeOSMemory()
	s.loopback.start(runCtx)
	go s.crds.run(runCtx)
	go s.metrics.run(runCtx)
	if s.etcd != nil {
		go func() {
			select {
			case err := <-s.etcd.Err():
				if err != nil {
					s.errc <- fmt.Errorf("embedded etcd: %w", err)
				}
			case <-runCtx.Done():
			}
		}()
	}
	return s, nil
}

// Addrs are the addresses served.
func (s *Server) Addrs() []string {
	var out []string
	for _, l := range s.listeners {
		out = append(out, l.Addr().String())
	}
	return out
}

// URLs are the base URLs served (https:// or http://).
func (s *Server) URLs() []string {
	var out []string
	for i, l := range s.listeners {
		scheme := "http://"
		if s.secure[i] {
			scheme = "https://"
		}
		out = append(out, scheme+l.Addr().String())
	}
	return out
}

// Handler is the HTTP handler (for tests that skip the listeners).
func (s *Server) Handler() http.Handler { return s.handler() }

// Authorizer is the server's authorization chain, as requests meet it
// (for benchmarks of its decisions).
func (s *Server) Authorizer() authorizer.Authorizer { return s.authorizer }

// Store is the storage the server writes through.
func (s *Server) Store() *storage.Store { return s.store }

// ReadyNotify is closed when the server serves (Start returns only then).
func (s *Server) ReadyNotify() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// Err reports a failure that stops the server.
func (s *Server) Err() <-chan error { return s.errc }

// Close stops serving and closes etcd.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, hs := range s.servers {
			_ = hs.Shutdown(ctx)
			_ = hs.Close()
		}
		s.closeListeners()
		if s.client != nil {
			_ = s.client.Close()
		}
		if s.etcd != nil {
			s.etcd.Close()
		}
		s.audit.close()
	})
}

func (s *Server) closeListeners() {
	for _, l := range s.listeners {
		_ = l.Close()
	}
}

func (s *Server) logf(format string, args ...any) { s.logger.Printf(format, args...) }

// routes builds the gin engine: fixed paths by route, every resource path
// through the catch-all, parsed by RequestInfoFactory.
func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = false
	e.UseRawPath = true
	e.Use(s.recoverPanic, instrument)
	for _, p := range []string{"/healthz", "/readyz", "/livez"} {
		e.GET(p, s.health)
	}
	e.GET("/version", s.version)
	e.GET("/metrics", gin.WrapH(metricsHandler()))
	e.GET(token.OpenIDConfigPath, s.serveOpenIDConfiguration)
	e.GET(token.JWKSPath, s.serveJWKS)
	e.GET("/api", s.coreVersions)
	e.GET("/api/", s.coreVersions)
	e.GET("/apis", s.groupList)
	e.GET("/apis/", s.groupList)
	e.NoRoute(s.serveResource)
	return e
}

func (s *Server) recoverPanic(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.logf("panic serving %s %s: %v\n%s", c.Request.Method, c.Request.URL.Path, r, debug.Stack())
			if !c.Writer.Written() {
				writeError(c, apierrors.NewInternalError(fmt.Errorf("%v", r)))
			}
			c.Abort()
		}
	}()
	c.Next()
}

func (s *Server) health(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.store.CurrentRevision(ctx); err != nil {
		c.String(http.StatusInternalServerError, "[-]etcd failed: %v\nhealthz check failed\n", err)
		return
	}
	// As kube-apiserver's: not ready until the bootstrap RBAC policy is
	// reconciled and loaded (its rbac/bootstrap-roles post-start hook).
	rbacReady := true
	select {
	case <-s.rbacSynced:
	default:
		rbacReady = false
	}
	if !rbacReady && c.Request.URL.Path == "/readyz" {
		c.String(http.StatusInternalServerError, "[+]ping ok\n[+]etcd ok\n[-]poststarthook/rbac/bootstrap-roles failed: not finished\nreadyz check failed\n")
		return
	}
	if c.Query("verbose") != "" {
		c.String(http.StatusOK, "[+]ping ok\n[+]etcd ok\n%s check passed\n", strings.TrimPrefix(c.Request.URL.Path, "/"))
		return
	}
	c.String(http.StatusOK, "ok")
}

// setAllowPrivileged sets the process-wide switch upstream's pod
// validation reads, as kube-apiserver does at start
// (capabilities.Setup). The first call in a process wins: a later
// apiserver asking for the other value cannot have it.
func setAllowPrivileged(allow bool) error {
	capabilities.Setup(allow, 0)
	if got := capabilities.Get().AllowPrivileged; got != allow {
		return fmt.Errorf("--allow-privileged=%t: an apiserver started earlier in this process set %t, and the setting is process-wide", allow, got)
	}
	return nil
}
