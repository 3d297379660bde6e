package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// File names in a certificate directory.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// Lifetimes, as kubeadm gives them: ten years for the CA, one for what
// it signs.
const (
	CAValidity   = 10 * 365 * 24 * time.Hour
	CertValidity = 365 * 24 * time.Hour
	// renewBefore is how close to expiry a certificate is made anew.
	renewBefore = 30 * 24 * time.Hour
)

// CA is a certificate authority that can sign.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is Cert encoded, what clients trust.
	CertPEM []byte
}

// LoadCA reads dir/ca.crt and dir/ca.key.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CACertFile))
	if err != nil {
		return nil, err
	}
	certs, err := certutil.ParseCertsPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, CACertFile), err)
	}
	key, err := keyutil.PrivateKeyFromFile(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, CAKeyFile), err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s is not a signing key", filepath.Join(dir, CAKeyFile))
	}
	return &CA{Cert: certs[0], Key: signer, CertPEM: certPEM}, nil
}

// LoadOrCreateCA reads the CA in dir, or makes one there when there is
// none (the cluster's first start). A CA with only one of its two files
// is an error: making a new one would orphan every certificate signed.
func LoadOrCreateCA(dir, commonName string) (*CA, error) {
	_, certErr := os.Stat(filepath.Join(dir, CACertFile))
	_, keyErr := os.Stat(filepath.Join(dir, CAKeyFile))
	switch {
	case certErr == nil && keyErr == nil:
		return LoadCA(dir)
	case certErr == nil || keyErr == nil:
		return nil, fmt.Errorf("%s holds only one of %s and %s: restore the other or remove both to make a new CA (every certificate it signed then stops working)", dir, CACertFile, CAKeyFile)
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Minute).UTC(),
		NotAfter:              now.Add(CAValidity).UTC(),
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("making the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	certPEM := encodeCert(der)
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := keyutil.WriteKey(filepath.Join(dir, CAKeyFile), keyPEM); err != nil {
		return nil, err
	}
	if err := certutil.WriteCert(filepath.Join(dir, CACertFile), certPEM); err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM}, nil
}

// Request describes a certificate to sign.
type Request struct {
	// CommonName is the user of a client certificate.
	CommonName string
	// Organization are a client certificate's groups.
	Organization []string
	// DNSNames and IPs a serving certificate answers for.
	DNSNames []string
	IPs      []net.IP
	// Usages: x509.ExtKeyUsageClientAuth and/or ServerAuth.
	Usages []x509.ExtKeyUsage
}

// Issue signs a new key for r; it returns the certificate and key in PEM.
func (ca *CA) Issue(r Request) (certPEM, keyPEM []byte, err error) {
	return signNew(&x509.Certificate{
		Subject:     pkix.Name{CommonName: r.CommonName, Organization: r.Organization},
		DNSNames:    r.DNSNames,
		IPAddresses: r.IPs,
		KeyUsage:    x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: r.Usages,
	}, CertValidity, ca)
}

// signNew makes a key and a certificate of tmpl for it, valid from a
// minute ago for validity, signed by ca (nil: by the new key itself).
func signNew(tmpl *x509.Certificate, validity time.Duration, ca *CA) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Minute).UTC(), now.Add(validity).UTC()
	parent, parentKey := tmpl, crypto.Signer(key)
	if ca != nil {
		parent, parentKey = ca.Cert, ca.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("signing a certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	if keyPEM, err = keyutil.MarshalPrivateKeyToPEM(key); err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// EnsureCert keeps certFile/keyFile a certificate for r signed by ca: an
// existing pair is kept while it is signed by ca, covers r's names and
// addresses, has r's subject and is more than 30 days from expiry;
// otherwise a new one is written.
func (ca *CA) EnsureCert(certFile, keyFile string, r Request) error {
	if ca.Current(certFile, keyFile, r) {
		return nil
	}
	certPEM, keyPEM, err := ca.Issue(r)
	if err != nil {
		return err
	}
	if err := keyutil.WriteKey(keyFile, keyPEM); err != nil {
		return err
	}
	return certutil.WriteCert(certFile, certPEM)
}

// Current tells whether certFile/keyFile already serve r (see EnsureCert).
func (ca *CA) Current(certFile, keyFile string, r Request) bool {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return false
	}
	certs, err := certutil.ParseCertsPEM(data)
	if err != nil || len(certs) == 0 {
		return false
	}
	if _, err := keyutil.PrivateKeyFromFile(keyFile); err != nil {
		return false
	}
	c := certs[0]
	if c.CheckSignatureFrom(ca.Cert) != nil || time.Until(c.NotAfter) < renewBefore {
		return false
	}
	if c.Subject.CommonName != r.CommonName || !slices.Equal(c.Subject.Organization, r.Organization) {
		return false
	}
	for _, n := range r.DNSNames {
		if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	for _, ip := range r.IPs {
		if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("making a key: %w", err)
	}
	return key, nil
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).SetInt64(math.MaxInt64-1))
	if err != nil {
		return nil, err
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: certutil.CertificateBlockType, Bytes: der})
}

// SelfSigned makes a certificate for dnsName signed by its own key, for a
// client that trusts exactly this certificate (the apiserver's loopback
// client). It lives in memory only.
func SelfSigned(dnsName string) (certPEM, keyPEM []byte, err error) {
	return signNew(&x509.Certificate{
		Subject:               pkix.Name{CommonName: dnsName},
		DNSNames:              []string{dnsName},
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, CAValidity, nil)
}
