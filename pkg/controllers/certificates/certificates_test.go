package certificates

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

func request(t *testing.T, cn string, orgs []string, dns []string, ips []net.IP) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, Organization: orgs}, DNSNames: dns, IPAddresses: ips,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func csr(name, signer, username string, groups []string, req []byte, usages ...certificatesv1.KeyUsage) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Now()},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request: req, SignerName: signer, Username: username, Groups: groups, Usages: usages,
		},
	}
}

var clientUsages = []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}

// start runs a controller on a fake clientset until the test ends.
func start(t *testing.T, cs *fake.Clientset, build func(informers.SharedInformerFactory) interface {
	Run(context.Context, int)
}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	c := build(factory)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx, 1)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
}

func getCSR(t *testing.T, cs *fake.Clientset, name string) *certificatesv1.CertificateSigningRequest {
	t.Helper()
	c, err := cs.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return cond(), nil
	}); err != nil {
		t.Fatalf("%s: never happened", what)
	}
}

// TestApprover: a kubelet client certificate request is approved when
// the SubjectAccessReview lets its requester create
// certificatesigningrequests/nodeclient (bootstrap) or selfnodeclient
// (renewal by the node it names); other requesters and other signers'
// requests stay pending.
func TestApprover(t *testing.T) {
	node1 := request(t, "system:node:n1", []string{"system:nodes"}, nil, nil)
	objs := []runtime.Object{
		csr("bootstrap", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:bootstrap:abcdef", []string{"system:bootstrappers"}, node1, clientUsages...),
		csr("renewal", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1", []string{"system:nodes"}, node1, clientUsages...),
		csr("jane", certificatesv1.KubeAPIServerClientKubeletSignerName, "jane", []string{"devs"}, node1, clientUsages...),
		csr("another-node", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n2", []string{"system:nodes"}, node1, clientUsages...),
		csr("not-a-node", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:bootstrap:abcdef", []string{"system:bootstrappers"},
			request(t, "jane", nil, nil, nil), clientUsages...),
		csr("other-signer", certificatesv1.KubeAPIServerClientSignerName, "system:bootstrap:abcdef", []string{"system:bootstrappers"}, node1, clientUsages...),
	}
	cs := fake.NewClientset(objs...)
	// The reviews as RBAC answers them with the bootstrap bindings: the
	// bootstrappers may ask for node client certificates, nodes may renew
	// their own.
	var mu sync.Mutex
	reviewed := map[string][]string{}
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		ra := sar.Spec.ResourceAttributes
		mu.Lock()
		reviewed[sar.Spec.User] = append(reviewed[sar.Spec.User], ra.Subresource)
		mu.Unlock()
		allowed := ra.Resource == "certificatesigningrequests" && ra.Verb == "create" &&
			((ra.Subresource == "nodeclient" && slices.Contains(sar.Spec.Groups, "system:bootstrappers")) ||
				(ra.Subresource == "selfnodeclient" && slices.Contains(sar.Spec.Groups, "system:nodes")))
		sar.Status.Allowed = allowed
		return true, sar, nil
	})
	start(t, cs, func(f informers.SharedInformerFactory) interface{ Run(context.Context, int) } {
		return NewApprover(cs, f)
	})
	approved := func(name string) (bool, string) {
		for _, c := range getCSR(t, cs, name).Status.Conditions {
			if c.Type == certificatesv1.CertificateApproved && c.Status == corev1.ConditionTrue {
				return true, c.Message
			}
		}
		return false, ""
	}
	eventually(t, "the bootstrap and renewal requests approved, jane's and the other node's reviewed", func() bool {
		a, _ := approved("bootstrap")
		b, _ := approved("renewal")
		mu.Lock()
		defer mu.Unlock()
		return a && b && len(reviewed["jane"]) == 1 && len(reviewed["system:node:n2"]) == 1
	})
	for _, tt := range []struct {
		name        string
		wantMessage string // "" when not approved
	}{
		{"bootstrap", "Auto approving kubelet client certificate after SubjectAccessReview."},
		{"renewal", "Auto approving self kubelet client certificate after SubjectAccessReview."},
		{"jane", ""},
		{"another-node", ""},
		{"not-a-node", ""},
		{"other-signer", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, msg := approved(tt.name)
			if ok != (tt.wantMessage != "") || msg != tt.wantMessage {
				t.Errorf("got approved %v %q, want %q", ok, msg, tt.wantMessage)
			}
		})
	}
	// Only a requester named as the certificate renews it
	// (selfnodeclient); anyone else needs nodeclient.
	mu.Lock()
	defer mu.Unlock()
	for user, want := range map[string][]string{
		"system:node:n1": {"selfnodeclient"},
		"jane":           {"nodeclient"},
		"system:node:n2": {"nodeclient"},
		// The request for "jane" and the other signer's are not node
		// client certificates: never reviewed.
		"system:bootstrap:abcdef": {"nodeclient"},
	} {
		if got := reviewed[user]; !slices.Equal(got, want) {
			t.Errorf("%s's reviews: got %v, want %v", user, got, want)
		}
	}
}

// writeCA makes a CA in dir and returns its certificate and file paths.
func writeCA(t *testing.T, dir string) (*x509.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "minik8s-ca"}, crypto.Signer(key))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return ca, certFile, keyFile
}

func approve(c *certificatesv1.CertificateSigningRequest) *certificatesv1.CertificateSigningRequest {
	c.Status.Conditions = append(c.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test",
	})
	return c
}

// TestSigner: approved kubelet client and serving requests are signed by
// the cluster CA with the asked usages and no longer than asked; pending
// ones are not, and a kubelet client request with the wrong subject
// fails with upstream's reason.
func TestSigner(t *testing.T) {
	ca, certFile, keyFile := writeCA(t, t.TempDir())
	hour := int32(3600)
	client := approve(csr("client", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1", nil,
		request(t, "system:node:n1", []string{"system:nodes"}, nil, nil), clientUsages...))
	client.Spec.ExpirationSeconds = &hour
	serving := approve(csr("serving", certificatesv1.KubeletServingSignerName, "system:node:n1", nil,
		request(t, "system:node:n1", []string{"system:nodes"}, []string{"n1"}, []net.IP{net.ParseIP("10.0.0.1")}),
		certificatesv1.UsageDigitalSignature, certificatesv1.UsageServerAuth))
	pending := csr("pending", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1", nil,
		request(t, "system:node:n1", []string{"system:nodes"}, nil, nil), clientUsages...)
	wrong := approve(csr("wrong", certificatesv1.KubeAPIServerClientKubeletSignerName, "system:node:n1", nil,
		request(t, "system:node:n1", []string{"admins"}, nil, nil), clientUsages...))
	cs := fake.NewClientset(client, serving, pending, wrong)
	start(t, cs, func(f informers.SharedInformerFactory) interface{ Run(context.Context, int) } {
		s, err := NewSigner(cs, f, SigningConfig{CertFile: certFile, KeyFile: keyFile, Duration: DefaultSigningDuration})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	failed := func(name string) string {
		for _, c := range getCSR(t, cs, name).Status.Conditions {
			if c.Type == certificatesv1.CertificateFailed {
				return c.Reason
			}
		}
		return ""
	}
	eventually(t, "client and serving signed, wrong failed", func() bool {
		return len(getCSR(t, cs, "client").Status.Certificate) > 0 && len(getCSR(t, cs, "serving").Status.Certificate) > 0 && failed("wrong") != ""
	})
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, tt := range []struct {
		name    string
		usage   x509.ExtKeyUsage
		longest time.Duration
		dns     []string
	}{
		{"client", x509.ExtKeyUsageClientAuth, time.Hour + 5*time.Minute, nil},
		{"serving", x509.ExtKeyUsageServerAuth, DefaultSigningDuration + 5*time.Minute, []string{"n1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			certs, err := certutil.ParseCertsPEM(getCSR(t, cs, tt.name).Status.Certificate)
			if err != nil {
				t.Fatal(err)
			}
			c := certs[0]
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Errorf("verifying against the CA for %v: %v", tt.usage, err)
			}
			if c.Subject.CommonName != "system:node:n1" || !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) {
				t.Errorf("got subject %v, want CN system:node:n1, O system:nodes", c.Subject)
			}
			if got := c.NotAfter.Sub(c.NotBefore); got > tt.longest {
				t.Errorf("got validity %v, want at most %v", got, tt.longest)
			}
			if !slices.Equal(c.DNSNames, tt.dns) {
				t.Errorf("got DNS names %v, want %v", c.DNSNames, tt.dns)
			}
		})
	}
	if got := getCSR(t, cs, "pending").Status.Certificate; len(got) != 0 {
		t.Errorf("a pending request was signed")
	}
	if got := failed("wrong"); got != "SignerValidationFailure" {
		t.Errorf("the wrong subject: got failure %q, want SignerValidationFailure", got)
	}
}

// TestCleaner: a request denied over an hour ago and one pending over a
// day are deleted; a fresh pending one stays.
func TestCleaner(t *testing.T) {
	req := request(t, "system:node:n1", []string{"system:nodes"}, nil, nil)
	old := metav1.NewTime(time.Now().Add(-25 * time.Hour))
	denied := csr("denied", certificatesv1.KubeAPIServerClientKubeletSignerName, "x", nil, req, clientUsages...)
	denied.CreationTimestamp = old
	denied.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, LastUpdateTime: metav1.NewTime(time.Now().Add(-2 * time.Hour))}}
	stale := csr("stale", certificatesv1.KubeAPIServerClientKubeletSignerName, "x", nil, req, clientUsages...)
	stale.CreationTimestamp = old
	fresh := csr("fresh", certificatesv1.KubeAPIServerClientKubeletSignerName, "x", nil, req, clientUsages...)
	cs := fake.NewClientset(denied, stale, fresh)
	start(t, cs, func(f informers.SharedInformerFactory) interface{ Run(context.Context, int) } {
		return NewCleaner(cs, f)
	})
	gone := func(name string) bool {
		_, err := cs.CertificatesV1().CertificateSigningRequests().Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
	eventually(t, "the denied and stale requests deleted", func() bool { return gone("denied") && gone("stale") })
	if gone("fresh") {
		t.Error("the fresh request was deleted")
	}
}
