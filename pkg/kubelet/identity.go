package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	apiserverapi "k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/connrotation"
	"k8s.io/client-go/util/keyutil"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap"
)

// The agent's identity, as the kubelet's: it joins with a bootstrap
// token (--bootstrap-kubeconfig), asks for its client certificate
// (system:node:NAME in system:nodes) through a CertificateSigningRequest
// the controller-manager approves and signs, writes --kubeconfig
// pointing at it, and with --rotate-certificates renews it before it
// expires. Its own API (logs, exec, attach, port forwarding) is served
// over TLS once --client-ca-file is given, answering only callers a
// client certificate of that CA or a bearer token (TokenReview)
// authenticates and a SubjectAccessReview on nodes/proxy, nodes/metrics,
// … authorizes. The code is upstream's kubelet's where it exists as a
// library: k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap, client-go's
// certificate manager,
// k8s.io/apiserver's delegating authenticator and authorizer.

// clientConfig is the agent's connection to the API server.
func clientConfig(ctx context.Context, cfg *Config) (*rest.Config, error) {
	if cfg.BootstrapKubeconfig == "" {
		return cfg.Conn.Load()
	}
	nodeName := types.NodeName(cfg.NodeName)
	// Joining: with no valid --kubeconfig, ask for a client certificate
	// with the bootstrap token and write the kubeconfig (blocks until
	// the request is approved and signed).
	// A refused join (the token not yet created, the API server not yet
	// up) is tried again, as a supervisor restarts a kubelet that exits.
	for backoff := time.Second; ; backoff = min(2*backoff, 10*time.Second) {
		err := bootstrap.LoadClientCert(ctx, cfg.Conn.Kubeconfig, cfg.BootstrapKubeconfig, cfg.CertDir, nodeName)
		if err == nil {
			break
		}
		klog.FromContext(ctx).Error(err, "Joining with --bootstrap-kubeconfig failed; trying again", "bootstrapKubeconfig", cfg.BootstrapKubeconfig, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("joining with --bootstrap-kubeconfig %s: %w", cfg.BootstrapKubeconfig, err)
		case <-time.After(backoff):
		}
	}
	rc, err := cfg.Conn.Load()
	if err != nil {
		return nil, err
	}
	if !cfg.RotateCertificates {
		return rc, nil
	}
	// Renewing: client-go's certificate manager asks for a new
	// certificate under the node's own name when 70-90 % of the current
	// one's life has passed, and the transport switches to it.
	renewer := rest.CopyConfig(rc)
	renewer.ContentType = "application/json"
	store, err := certificate.NewFileStore("kubelet-client", cfg.CertDir, cfg.CertDir, rc.CertFile, rc.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("the client certificate store in %s: %w", cfg.CertDir, err)
	}
	m, err := certificate.NewManager(&certificate.Config{
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) { return kubernetes.NewForConfig(renewer) },
		Template: &x509.CertificateRequest{Subject: pkix.Name{
			CommonName: "system:node:" + cfg.NodeName, Organization: []string{user.NodesGroup},
		}},
		SignerName:       certificatesv1.KubeAPIServerClientKubeletSignerName,
		GetUsages:        certificate.DefaultKubeletClientGetUsages,
		CertificateStore: store,
	})
	if err != nil {
		return nil, fmt.Errorf("the client certificate manager: %w", err)
	}
	transport, err := rotatingTransport(ctx, rc, m)
	if err != nil {
		return nil, err
	}
	m.Start()
	go func() {
		<-ctx.Done()
		m.Stop()
	}()
	return transport, nil
}

// exitAfter is how long the agent runs without a valid client
// certificate (the kubelet's 5 minutes).
const exitAfter = 5 * time.Minute

// rotatingTransport is rc with the client certificate m holds now,
// closing the open connections when it changes so that they shake
// hands again with the new one (upstream kubelet's UpdateTransport;
// its package would cost the agent 13 MB of memory at start).
func rotatingTransport(ctx context.Context, rc *rest.Config, m certificate.Manager) (*rest.Config, error) {
	out := rest.AnonymousClientConfig(rc)
	out.QPS, out.Burst = rc.QPS, rc.Burst
	tlsConfig, err := rest.TLSConfigFor(out)
	if err != nil {
		return nil, fmt.Errorf("the API server's TLS: %w", err)
	}
	if tlsConfig == nil {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	tlsConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if c := m.Current(); c != nil {
			return c, nil
		}
		return &tls.Certificate{}, nil
	}
	d := connrotation.NewDialer((&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext)
	last, lastValid := m.Current(), time.Now()
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		logger := klog.FromContext(ctx)
		c := m.Current()
		now := time.Now()
		// As the kubelet: with no valid certificate for exitAfter while
		// the API server answers, exit; the next start joins again with
		// the bootstrap token, the kubeconfig having expired.
		if c != nil && now.Before(c.Leaf.NotAfter) {
			lastValid = now
		} else if now.After(lastValid.Add(exitAfter)) && m.ServerHealthy() {
			logger.Error(nil, "No valid client certificate and the API server is responsive, exiting to join again", "lastValid", lastValid)
			os.Exit(1)
		}
		if c == nil || c == last {
			return
		}
		last = c
		logger.Info("Client certificate renewed, closing the API connections to use it", "expires", c.Leaf.NotAfter)
		d.CloseAll()
	}, 10*time.Second)
	out.Transport = utilnet.SetTransportDefaults(&http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig:     tlsConfig,
		MaxIdleConnsPerHost: 25,
		DialContext:         d.DialContext,
	})
	out.TLSClientConfig = rest.TLSClientConfig{}
	return out, nil
}

// secureAPI is the agent API's TLS and its authentication and
// authorization; nil when the API is plain HTTP (no --client-ca-file).
type secureAPI struct {
	tls   *tls.Config
	authn authenticator.Request
	authz authorizer.Authorizer
	node  string
}

// newSecureAPI builds the API's protection from cfg; reviews reach the
// API server (TokenReview, SubjectAccessReview) as the agent.
func newSecureAPI(ctx context.Context, cfg *Config, nodeIP string, client kubernetes.Interface) (*secureAPI, error) {
	if cfg.ClientCAFile == "" {
		return nil, nil
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12,
		// The client certificate is asked for, not required: tokens
		// authenticate too. The x509 authenticator checks the chain.
		ClientAuth: tls.RequestClientCert,
	}
	if cfg.RotateServerCertificates {
		m, err := servingCertificateManager(cfg, nodeIP, client)
		if err != nil {
			return nil, err
		}
		m.Start()
		go func() {
			<-ctx.Done()
			m.Stop()
		}()
		tlsConfig.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := m.Current(); c != nil {
				return c, nil
			}
			return nil, errors.New("no serving certificate yet: the agent's kubelet-serving CertificateSigningRequest waits for approval")
		}
	} else {
		cert, err := servingCertificate(cfg, nodeIP)
		if err != nil {
			return nil, err
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	tokens, sars := client.AuthenticationV1(), client.AuthorizationV1()
	ca, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca-bundle", cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	go ca.Run(ctx, 1)
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:                          &apiserverapi.AnonymousAuthConfig{Enabled: cfg.AnonymousAuth},
		CacheTTL:                           2 * time.Minute,
		ClientCertificateCAContentProvider: ca,
		TokenAccessReviewClient:            tokens,
		WebhookRetryBackoff:                reviewRetry(),
	}.New()
	if err != nil {
		return nil, err
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: sars,
		AllowCacheTTL:             5 * time.Minute,
		DenyCacheTTL:              30 * time.Second,
		WebhookRetryBackoff:       reviewRetry(),
	}.New()
	if err != nil {
		return nil, err
	}
	return &secureAPI{
		tls:   tlsConfig,
		authn: authn,
		authz: authz,
		node:  cfg.NodeName,
	}, nil
}

// reviewRetry is k8s.io/apiserver's DefaultAuthWebhookRetryBackoff,
// spelled out: its package (server/options) would double the agent's
// memory at start.
func reviewRetry() *wait.Backoff {
	return &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// servingCertificateManager asks for the API's serving certificate
// through a kubernetes.io/kubelet-serving CertificateSigningRequest for
// the node's name and address, and renews it, as the kubelet with
// serverTLSBootstrap. Kubernetes approves none of these automatically
// (csrapproving does not): an admin approves them (`ctl certificate
// approve`).
func servingCertificateManager(cfg *Config, nodeIP string, client kubernetes.Interface) (certificate.Manager, error) {
	store, err := certificate.NewFileStore("kubelet-server", cfg.CertDir, cfg.CertDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("the serving certificate store in %s: %w", cfg.CertDir, err)
	}
	var ips []net.IP
	if ip := net.ParseIP(nodeIP); ip != nil {
		ips = append(ips, ip)
	}
	return certificate.NewManager(&certificate.Config{
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) { return client, nil },
		GetTemplate: func() *x509.CertificateRequest {
			return &x509.CertificateRequest{
				Subject:  pkix.Name{CommonName: "system:node:" + cfg.NodeName, Organization: []string{user.NodesGroup}},
				DNSNames: []string{cfg.NodeName}, IPAddresses: ips,
			}
		},
		SignerName:       certificatesv1.KubeletServingSignerName,
		GetUsages:        certificate.DefaultKubeletServingGetUsages,
		CertificateStore: store,
	})
}

// servingCertificate is --tls-cert-file/--tls-private-key-file, or, as
// the kubelet without them, a self-signed certificate for the node's
// name and address kept in --cert-dir (kubelet.crt, kubelet.key).
func servingCertificate(cfg *Config, nodeIP string) (tls.Certificate, error) {
	certFile, keyFile := cfg.TLSCertFile, cfg.TLSPrivateKeyFile
	if certFile == "" {
		certFile, keyFile = filepath.Join(cfg.CertDir, "kubelet.crt"), filepath.Join(cfg.CertDir, "kubelet.key")
		if ok, _ := certutil.CanReadCertAndKey(certFile, keyFile); !ok {
			var ips []net.IP
			if ip := net.ParseIP(nodeIP); ip != nil {
				ips = append(ips, ip)
			}
			certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(cfg.NodeName, ips, nil)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("making the agent's self-signed serving certificate: %w", err)
			}
			if err := certutil.WriteCert(certFile, certPEM); err != nil {
				return tls.Certificate{}, err
			}
			if err := keyutil.WriteKey(keyFile, keyPEM); err != nil {
				return tls.Certificate{}, err
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("loading the agent's serving certificate: %w", err)
	}
	return cert, nil
}

// filter is the kubelet's auth filter (pkg/kubelet/server
// InstallAuthFilter): 401 "Unauthorized" unless authenticated, 403 with
// upstream's Forbidden text unless one of the request's attributes is
// allowed.
func (s *secureAPI) filter(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		logger := klog.FromContext(req.Context())
		resp, ok, err := s.authn.AuthenticateRequest(req)
		if err != nil {
			logger.Error(err, "Unable to authenticate the request due to an error")
		}
		if err != nil || !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		attrs := requestAttributes(s.node, resp.User, req)
		var subresources []string
		for _, a := range attrs {
			subresources = append(subresources, a.GetSubresource())
			decision, _, err := s.authz.Authorize(req.Context(), a)
			if err != nil {
				logger.Error(err, "Authorization error", "user", a.GetUser().GetName(), "verb", a.GetVerb(), "resource", a.GetResource(), "subresource", a.GetSubresource())
				http.Error(w, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=%s, subresource=%s)", a.GetUser().GetName(), a.GetVerb(), a.GetResource(), a.GetSubresource()), http.StatusInternalServerError)
				return
			}
			if decision == authorizer.DecisionAllow {
				next.ServeHTTP(w, req)
				return
			}
		}
		a := attrs[0]
		logger.V(2).Info("Forbidden", "user", a.GetUser().GetName(), "verb", a.GetVerb(), "resource", a.GetResource(), "subresource(s)", subresources)
		http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)", a.GetUser().GetName(), a.GetVerb(), a.GetResource(), subresources), http.StatusForbidden)
	})
}

// requestAttributes is the kubelet's mapping of its API to what is
// authorized (pkg/kubelet/server NewNodeAuthorizerAttributesGetter, with
// its fine-grained subresources, GA in 1.36): nodes/NAME with the HTTP
// method as verb; /metrics is nodes/metrics, /healthz nodes/healthz or
// nodes/proxy, everything else (logs, exec, attach, port forwarding)
// nodes/proxy.
func requestAttributes(node string, u user.Info, req *http.Request) []authorizer.Attributes {
	verb := ""
	switch req.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodGet:
		verb = "get"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	case http.MethodConnect:
		// A tunnel to a pod (tunnel.go), nodes/proxy as any other path.
		verb = "create"
	}
	var subresources []string
	switch p := req.URL.Path; {
	case isSubpath(p, "/pods"):
		subresources = []string{"pods", "proxy"}
	case isSubpath(p, "/healthz"):
		subresources = []string{"healthz", "proxy"}
	case isSubpath(p, "/configz"):
		subresources = []string{"configz", "proxy"}
	case isSubpath(p, "/stats"):
		subresources = []string{"stats"}
	case isSubpath(p, "/metrics"):
		subresources = []string{"metrics"}
	case isSubpath(p, "/logs"):
		subresources = []string{"log"}
	default:
		subresources = []string{"proxy"}
	}
	var out []authorizer.Attributes
	for _, sub := range subresources {
		out = append(out, authorizer.AttributesRecord{
			User: u, Verb: verb, APIVersion: "v1", Resource: "nodes", Subresource: sub, Name: node,
			ResourceRequest: true, Path: req.URL.Path,
		})
	}
	return out
}

func isSubpath(subpath, path string) bool {
	path = strings.TrimSuffix(path, "/")
	return subpath == path || (strings.HasPrefix(subpath, path) && subpath[len(path)] == '/')
}
