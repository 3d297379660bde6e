package kubelet

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/controllers/certificates"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// TestJoin: an agent given only a bootstrap token asks for its client
// certificate as system:bootstrap:<id>, and once the request is approved
// and signed writes --kubeconfig with a certificate for system:node:NAME
// of the cluster CA; started again, it keeps that kubeconfig.
func TestJoin(t *testing.T) {
	s := apiservertest.Start(t)
	cfgJSON := rest.CopyConfig(s.Config)
	cfgJSON.ContentType = "application/json"
	admin := kubernetes.NewForConfigOrDie(cfgJSON)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()

	// The cluster CA and csrsigning, as the controller-manager runs it.
	ca := newTestCA(t)
	ca.write(t, filepath.Join(dir, "ca.crt"))
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(ca.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	factory := informers.NewSharedInformerFactory(admin, 0)
	signer, err := certificates.NewSigner(admin, factory, certificates.SigningConfig{
		CertFile: filepath.Join(dir, "ca.crt"), KeyFile: filepath.Join(dir, "ca.key"), Duration: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	go signer.Run(ctx, 1)
	defer func() {
		cancel()
		factory.Shutdown()
	}()

	if _, err := admin.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-abcdef", Namespace: metav1.NamespaceSystem},
		Type:       corev1.SecretTypeBootstrapToken,
		Data: map[string][]byte{
			"token-id": []byte("abcdef"), "token-secret": []byte("0123456789abcdef"),
			"usage-bootstrap-authentication": []byte("true"),
			"auth-extra-groups":              []byte("system:bootstrappers:minik8s:default-node-token"),
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The agent speaks TLS to the API server (client certificates are
	// sent only over TLS): a TLS front of the test server, which forwards
	// the bootstrap token.
	target, _ := url.Parse(s.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	front := httptest.NewTLSServer(proxy)
	defer front.Close()
	frontCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw})
	bootstrapPath := filepath.Join(dir, "bootstrap-kubeconfig")
	if err := clientcmd.WriteToFile(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"c": {Server: front.URL, CertificateAuthorityData: frontCA}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"bootstrap": {Token: "abcdef.0123456789abcdef"}},
		Contexts:       map[string]*clientcmdapi.Context{"c": {Cluster: "c", AuthInfo: "bootstrap"}},
		CurrentContext: "c",
	}, bootstrapPath); err != nil {
		t.Fatal(err)
	}

	// The approval csrapproving gives when RBAC lets the bootstrappers
	// ask for node client certificates (its SubjectAccessReview is
	// tested with the controller).
	go func() {
		_ = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(context.Context) (bool, error) {
			list, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) == 0 {
				return false, nil
			}
			c := &list.Items[0]
			c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test",
			})
			_, err = admin.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, c.Name, c, metav1.UpdateOptions{})
			return err == nil, nil
		})
	}()

	cfg := NewConfig()
	cfg.NodeName, cfg.StateDir = "n1", dir
	cfg.Conn.Kubeconfig, cfg.BootstrapKubeconfig = filepath.Join(dir, "kubeconfig"), bootstrapPath
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
