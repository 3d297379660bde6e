package pki

import (
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	certutil "k8s.io/client-go/util/cert"
)

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || ca.Cert.Subject.CommonName != "test-ca" {
		t.Errorf("got CA %v %q, want a CA named test-ca", ca.Cert.IsCA, ca.Cert.Subject.CommonName)
	}
	if fi, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v, want mode 0600", err, fi)
	}
	again, err := LoadOrCreateCA(dir, "other")
	if err != nil || !again.Cert.Equal(ca.Cert) {
		t.Errorf("second call: %v; want the same CA kept", err)
	}
	if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir, "test-ca"); err == nil || !strings.Contains(err.Error(), "holds only one of") {
		t.Errorf("half a CA: got %v, want a refusal to make a new one", err)
	}
}

func TestIssueAndEnsureCert(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir, "test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.Issue(ClientRequest(Node("n1")))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := certs[0]
	if c.Subject.CommonName != "system:node:n1" || !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("got subject %v, want CN system:node:n1 O system:nodes", c.Subject)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate does not verify against its CA: %v", err)
	}

	certFile, keyFile := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	r := Request{CommonName: "kube-apiserver", DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1")}, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if err := ca.EnsureCert(certFile, keyFile, r); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(certFile)
	if err := ca.EnsureCert(certFile, keyFile, r); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(certFile); string(second) != string(first) {
		t.Errorf("a current certificate was made anew")
	}
	r.IPs = append(r.IPs, net.ParseIP("10.96.0.1"))
	if ca.Current(certFile, keyFile, r) {
		t.Errorf("a certificate without 10.96.0.1 counts as current for a request with it")
	}
	if err := ca.EnsureCert(certFile, keyFile, r); err != nil {
		t.Fatal(err)
	}
	if !ca.Current(certFile, keyFile, r) {
		t.Errorf("after EnsureCert the certificate does not cover the new address")
	}
	other, err := LoadOrCreateCA(t.TempDir(), "other")
	if err != nil {
		t.Fatal(err)
	}
	if other.Current(certFile, keyFile, r) {
		t.Errorf("a certificate of another CA counts as current")
	}
}

func TestSelfSigned(t *testing.T) {
	certPEM, _, err := SelfSigned("apiserver-loopback-client")
	if err != nil {
		t.Fatal(err)
	}
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(certs[0])
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: "apiserver-loopback-client"}); err != nil {
		t.Errorf("the self-signed certificate does not verify as its own root: %v", err)
	}
}
