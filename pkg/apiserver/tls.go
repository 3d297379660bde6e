package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"minik8s/pkg/pki"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"
)

// The serving certificate's files in the certificate directory, and the
// CA's name, as kubeadm names them.
const (
	servingCertFile = "apiserver.crt"
	servingKeyFile  = "apiserver.key"
	caCommonName    = "minik8s-ca"
	// loopbackServerName is the TLS server name the loopback client asks
	// for; the server answers it with a certificate of its own that only
	// the loopback client trusts, as kube-apiserver does.
	loopbackServerName = "apiserver-loopback-client"
)

type tlsState struct {
	config *tls.Config
	// clientCerts authenticates client certificates; nil without a
	// client CA.
	clientCerts authenticator.Request
	// loopbackCA is what the loopback client trusts.
	loopbackCA []byte
}

// setupTLS readies the serving certificate (made from the cluster CA in
// CertDir, the CA too at first start, unless --tls-cert-file names one),
// the client certificate authenticator and the loopback certificate.
func (s *Server) setupTLS() error {
	cfg := s.cfg
	if len(cfg.Listen) == 0 {
		return nil
	}
	certFile, keyFile := cfg.TLSCertFile, cfg.TLSPrivateKeyFile
	if certFile == "" {
		ca, err := pki.LoadOrCreateCA(cfg.CertDir, caCommonName)
		if err != nil {
			return fmt.Errorf("the cluster CA: %w", err)
		}
		certFile, keyFile = filepath.Join(cfg.CertDir, servingCertFile), filepath.Join(cfg.CertDir, servingKeyFile)
		if err := ca.EnsureCert(certFile, keyFile, s.servingRequest()); err != nil {
			return fmt.Errorf("the serving certificate: %w", err)
		}
	}
	serving, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loading the serving certificate %s: %w", certFile, err)
	}
	loopCert, loopKey, err := pki.SelfSigned(loopbackServerName)
	if err != nil {
		return err
	}
	loopback, err := tls.X509KeyPair(loopCert, loopKey)
	if err != nil {
		return err
	}
	s.tls.loopbackCA = loopCert
	s.tls.config = &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Client certificates are asked for and checked by the
		// authenticator, so that a request without one can still carry a
		// token.
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName == loopbackServerName {
				return &loopback, nil
			}
			return &serving, nil
		},
	}
	caFile := cfg.ClientCAFile
	if caFile == "" {
		caFile = filepath.Join(cfg.CertDir, pki.CACertFile)
	}
	pool, err := certutil.NewPool(caFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && cfg.ClientCAFile == "":
		// A serving certificate from elsewhere and no CA: no client
		// certificates, tokens only.
	case err != nil:
		return fmt.Errorf("--client-ca-file: %w", err)
	default:
		opts := x509request.DefaultVerifyOptions()
		opts.Roots = pool
		s.tls.clientCerts = x509request.New(opts, x509request.CommonNameUserConversion)
	}
	if cfg.WriteKubeconfig != "" {
		ca, err := pki.LoadCA(cfg.CertDir)
		if err != nil {
			return fmt.Errorf("--write-kubeconfig needs the CA in --cert-dir: %w", err)
		}
		if err := ca.WriteKubeconfig(cfg.WriteKubeconfig, "minik8s", s.secureURL(), pki.Admin); err != nil {
			return err
		}
	}
	return nil
}

// servingRequest lists every name and address the apiserver is reached
// by: loopback, its listen and advertise addresses, the kubernetes
// Service's ClusterIP and DNS names, the host name, --tls-san.
func (s *Server) servingRequest() pki.Request {
	cfg := s.cfg
	r := pki.Request{
		CommonName: "kube-apiserver",
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(cfg.AdvertiseAddress), net.IP(cfg.serviceCIDR.Addr().Next().AsSlice())},
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		r.DNSNames = append(r.DNSNames, h)
	}
	for _, l := range cfg.Listen {
		host, _, _ := net.SplitHostPort(l)
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			r.IPs = append(r.IPs, ip)
		}
	}
	for _, san := range cfg.TLSSANs {
		if ip := net.ParseIP(san); ip != nil {
			r.IPs = append(r.IPs, ip)
		} else if san != "" {
			r.DNSNames = append(r.DNSNames, san)
		}
	}
	return r
}

// secureURL is the first TLS address as clients elsewhere reach it (the
// advertise address for a wildcard listen).
func (s *Server) secureURL() string {
	for i, l := range s.listeners {
		if !s.secure[i] {
			continue
		}
		host, port, _ := net.SplitHostPort(l.Addr().String())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = s.cfg.AdvertiseAddress
		}
		return "https://" + net.JoinHostPort(host, port)
	}
	return ""
}

// loopbackConfig reaches the server's first listener as system:apiserver
// (the token made at start).
func (s *Server) loopbackConfig() *rest.Config {
	addr := s.listeners[0].Addr().String()
	if !s.secure[0] {
		return &rest.Config{Host: "http://" + addr, BearerToken: s.loopbackToken, QPS: -1}
	}
	return &rest.Config{
		Host:            "https://" + addr,
		BearerToken:     s.loopbackToken,
		QPS:             -1,
		TLSClientConfig: rest.TLSClientConfig{ServerName: loopbackServerName, CAData: s.tls.loopbackCA},
	}
}
