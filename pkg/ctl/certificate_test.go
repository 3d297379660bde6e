package ctl

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCertificateApprove: ctl certificate approve goes through the
// approval subresource.
func TestCertificateApprove(t *testing.T) {
	c := startCluster(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	request := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	manifest := fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: jane}
spec:
  request: %s
  signerName: kubernetes.io/kube-apiserver-client
  usages: [client auth]
`, request)
	wantLines(t, c.ctl("create", "-f", c.file("csr.yaml", manifest)), "certificatesigningrequest.certificates.k8s.io/jane created")
	wantLines(t, c.ctl("certificate", "approve", "jane"), "certificatesigningrequest.certificates.k8s.io/jane approved")
	csr, err := c.client.CertificatesV1().CertificateSigningRequests().Get(context.Background(), "jane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(csr.Status.Conditions) != 1 || csr.Status.Conditions[0].Type != certificatesv1.CertificateApproved || csr.Status.Conditions[0].Reason != "KubectlApprove" {
		t.Fatalf("got conditions %+v, want Approved by KubectlApprove", csr.Status.Conditions)
	}
}
