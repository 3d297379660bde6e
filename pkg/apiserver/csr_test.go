package apiserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCSRApproval: a CertificateSigningRequest is approved through its
// approval subresource, with upstream's approval strategy; a status
// write may not approve it.
func TestCSRApproval(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "jane"},
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth},
		},
	}
	csr, err = cs.CertificatesV1().CertificateSigningRequests().Create(ctx, csr, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	approved := certificatesv1.CertificateSigningRequestCondition{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test", Message: "approved by the test"}
	viaStatus := csr.DeepCopy()
	viaStatus.Status.Conditions = append(viaStatus.Status.Conditions, approved)
	if _, err := cs.CertificatesV1().CertificateSigningRequests().UpdateStatus(ctx, viaStatus, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("approval through status: got %v, want 422", err)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, approved)
	got, err := cs.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "jane", csr, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("approval: %v", err)
	}
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Type != certificatesv1.CertificateApproved || got.Status.Conditions[0].LastUpdateTime.IsZero() {
		t.Fatalf("after approval: conditions %+v, want Approved with its time set", got.Status.Conditions)
	}
	// The approval subresource changes conditions only.
	got.Spec.Usages = []certificatesv1.KeyUsage{certificatesv1.UsageServerAuth}
	got.Status.Certificate = []byte("forged")
	again, err := cs.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, "jane", got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Spec.Usages[0] != certificatesv1.UsageClientAuth || len(again.Status.Certificate) != 0 {
		t.Fatalf("approval changed more than conditions: usages %v certificate %q", again.Spec.Usages, again.Status.Certificate)
	}
}
