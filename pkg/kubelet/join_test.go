package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/bootstraptoken"
	"minik8s/pkg/controllers/certificates"
	"minik8s/pkg/pki"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
)

// TestJoin: an agent given only a bootstrap token asks for its client
// certificate as system:bootstrap:<id>, and once the request is approved
// and signed writes --kubeconfig with a certificate for system:node:NAME
// of the cluster CA; started again, it keeps that kubeconfig.
func TestJoin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, ca, cfg := joinCluster(t, ctx, time.Hour)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rc, err := clientConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rc.BearerToken != "" {
		t.Errorf("the agent's kubeconfig holds a token; want only its certificate")
	}
	certs, err := certutil.CertsFromFile(rc.CertFile)
	if err != nil {
		t.Fatalf("the agent's certificate: %v", err)
	}
	c := certs[0]
	if c.Subject.CommonName != "system:node:n1" || !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("got subject %v, want CN system:node:n1, O system:nodes", c.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the certificate is not a client certificate of the cluster CA: %v", err)
	}
	csrs, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) != 1 {
		t.Fatalf("got %d requests, want 1", len(csrs.Items))
	}
	if got := csrs.Items[0].Spec; got.Username != "system:bootstrap:abcdef" || got.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
		t.Errorf("the request: got user %q signer %q, want system:bootstrap:abcdef and the kubelet client signer", got.Username, got.SignerName)
	}
	// Started again: the kubeconfig is still valid, nothing is asked.
	if _, err := clientConfig(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if csrs, _ := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{}); len(csrs.Items) != 1 {
		t.Errorf("a restart asked again: %d requests", len(csrs.Items))
	}
}

// joinCluster is a test API server with csrsigning on a cluster CA
// (certificates valid for ttl), a bootstrap token, a bootstrap kubeconfig
// reaching the server over TLS, and every CertificateSigningRequest
// approved as csrapproving does when RBAC lets the requester. It
// returns the admin client, the CA and the agent's configuration.
func joinCluster(t *testing.T, ctx context.Context, ttl time.Duration) (kubernetes.Interface, *testCA, *Config) {
	t.Helper()
	s := apiservertest.Start(t)
	cfgJSON := rest.CopyConfig(s.Config)
	cfgJSON.ContentType = "application/json"
	admin := kubernetes.NewForConfigOrDie(cfgJSON)
	ctx, cancel := context.WithCancel(ctx)
	dir := t.TempDir()

	// The cluster CA and csrsigning, as the controller-manager runs it.
	// The cluster CA: the test apiserver's, which it trusts for client
	// certificates.
	pkiCA, err := pki.LoadCA(s.Cfg.CertDir)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{cert: pkiCA.Cert, key: pkiCA.Key}
	ca.write(t, filepath.Join(dir, "ca.crt"))
	factory := informers.NewSharedInformerFactory(admin, 0)
	signer, err := certificates.NewSigner(admin, factory, certificates.SigningConfig{
		CertFile: filepath.Join(s.Cfg.CertDir, pki.CACertFile), KeyFile: filepath.Join(s.Cfg.CertDir, pki.CAKeyFile), Duration: ttl,
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	go signer.Run(ctx, 1)
	t.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})

	opts := bootstraptoken.DefaultOptions()
	opts.TTL = 0
	if _, err := bootstraptoken.Create(ctx, admin, "abcdef.0123456789abcdef", opts); err != nil {
		t.Fatal(err)
	}
	// The apiserver reads tokens from an informer: wait until it knows
	// this one.
	withToken := rest.AnonymousClientConfig(cfgJSON)
	withToken.BearerToken = "abcdef.0123456789abcdef"
	asToken := kubernetes.NewForConfigOrDie(withToken)
	if err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
		r, err := asToken.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return err == nil && r.Status.UserInfo.Username == "system:bootstrap:abcdef", nil
	}); err != nil {
		t.Fatal("the token never authenticated")
	}
	bootstrapPath := filepath.Join(dir, "bootstrap-kubeconfig")
	if err := clientcmd.WriteToFile(*bootstraptoken.Kubeconfig(s.URL, s.Config.CAData, "abcdef.0123456789abcdef"), bootstrapPath); err != nil {
		t.Fatal(err)
	}

	// The approval csrapproving gives when RBAC lets the requester ask
	// for node client certificates (its SubjectAccessReview is tested
	// with the controller).
	go func() {
		_ = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
			list, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for i := range list.Items {
				c := &list.Items[i]
				if len(c.Status.Conditions) > 0 {
					continue
				}
				c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
					Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test",
				})
				_, _ = admin.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, c.Name, c, metav1.UpdateOptions{})
			}
			return false, nil
		})
	}()
	cfg := NewConfig()
	cfg.NodeName, cfg.StateDir = "n1", dir
	cfg.Conn.Kubeconfig, cfg.BootstrapKubeconfig = filepath.Join(dir, "kubeconfig"), bootstrapPath
	return admin, ca, cfg
}

// TestRenewal: with --rotate-certificates, a certificate past most of
// its life is renewed by a new request for the same node, stored as the
// current one, and the agent's client carries no fixed certificate (it
// takes the current one at each handshake).
func TestRenewal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Certificates of a minute, which the signer backdates 5 minutes:
	// past the 70-90 % of their life when renewal is due at once or
	// within seconds.
	admin, _, cfg := joinCluster(t, ctx, time.Minute)
	cfg.RotateCertificates = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rc, err := clientConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Transport == nil || rc.CertFile != "" || len(rc.CertData) != 0 {
		t.Errorf("the client has a fixed certificate (file %q), want the rotating transport", rc.CertFile)
	}
	current := filepath.Join(cfg.CertDir, "kubelet-client-current.pem")
	serial := func() string {
		certs, err := certutil.CertsFromFile(current)
		if err != nil {
			return ""
		}
		return certs[0].SerialNumber.String()
	}
	first := serial()
	if first == "" {
		t.Fatalf("no current certificate in %s", current)
	}
	if err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(context.Context) (bool, error) {
		s := serial()
		return s != "" && s != first, nil
	}); err != nil {
		t.Fatal("the certificate was never renewed")
	}
	csrs, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(csrs.Items) < 2 {
		t.Fatalf("got %d requests, want the join's and a renewal", len(csrs.Items))
	}
	for _, c := range csrs.Items {
		block, _ := pem.Decode(c.Spec.Request)
		req, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if req.Subject.CommonName != "system:node:n1" || c.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
			t.Errorf("request %s: got CN %q signer %q, want system:node:n1 and the kubelet client signer", c.Name, req.Subject.CommonName, c.Spec.SignerName)
		}
	}
}

// TestServingCertificate: with --rotate-server-certificates the agent's
// API serves a certificate the cluster CA signed for the node's name and
// address, asked for with a kubelet-serving request once approved.
func TestServingCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, ca, cfg := joinCluster(t, ctx, time.Hour)
	cfg.ClientCAFile, cfg.RotateServerCertificates = filepath.Join(cfg.StateDir, "ca.crt"), true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	rc, err := clientConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc.ContentType = "application/json"
	secure, err := newSecureAPI(ctx, cfg, "127.0.0.1", kubernetes.NewForConfigOrDie(rc))
	if err != nil {
		t.Fatal(err)
	}
	// The agent's listener (httptest would add a certificate of its own).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: secure.filter(http.NotFoundHandler()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(tls.NewListener(ln, secure.tls)) }()
	defer srv.Close()
	url := "https://" + ln.Addr().String()
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	var resp *http.Response
	if err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(context.Context) (bool, error) {
		resp, err = client.Get(url + "/healthz")
		return err == nil, nil
	}); err != nil {
		t.Fatalf("the API never served a certificate of the cluster CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous: got %d, want 401", resp.StatusCode)
	}
	csrs, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var serving []string
	for _, c := range csrs.Items {
		if c.Spec.SignerName == certificatesv1.KubeletServingSignerName {
			block, _ := pem.Decode(c.Spec.Request)
			req, err := x509.ParseCertificateRequest(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			serving = append(serving, req.Subject.CommonName+" "+strings.Join(req.DNSNames, ","))
		}
	}
	if !slices.Equal(serving, []string{"system:node:n1 n1"}) {
		t.Errorf("got serving requests %v, want one for system:node:n1 with DNS name n1", serving)
	}
}
