package pki

import (
	"crypto/x509"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Identity is who a client certificate says its holder is.
type Identity struct {
	User   string
	Groups []string
}

// Well-known identities, as kubeadm makes them.
var (
	Admin             = Identity{User: "kubernetes-admin", Groups: []string{"system:masters"}}
	ControllerManager = Identity{User: "system:kube-controller-manager"}
	Scheduler         = Identity{User: "system:kube-scheduler"}
	// APIServerKubeletClient is the apiserver's identity toward the agents.
	APIServerKubeletClient = Identity{User: "kube-apiserver-kubelet-client", Groups: []string{"system:masters"}}
)

// Node is the identity of the agent of node name, as the Node authorizer
// reads it.
func Node(name string) Identity {
	return Identity{User: "system:node:" + name, Groups: []string{"system:nodes"}}
}

// ClientRequest is the certificate request of a client identity.
func ClientRequest(id Identity) Request {
	return Request{CommonName: id.User, Organization: id.Groups, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// WriteKubeconfig writes a kubeconfig at path for a client of server
// (https://host:port) that trusts ca and presents a new certificate of
// id, with everything embedded (the file alone is enough), mode 0600.
// cluster names the cluster, user and context.
func (ca *CA) WriteKubeconfig(path, cluster, server string, id Identity) error {
	certPEM, keyPEM, err := ca.Issue(ClientRequest(id))
	if err != nil {
		return err
	}
	cfg := Kubeconfig(cluster, server, ca.CertPEM)
	cfg.AuthInfos[cluster] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}

// Kubeconfig is a kubeconfig of one cluster, user and context, all named
// cluster, trusting caPEM, with no credentials yet.
func Kubeconfig(cluster, server string, caPEM []byte) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[cluster] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[cluster] = &clientcmdapi.AuthInfo{}
	cfg.Contexts[cluster] = &clientcmdapi.Context{Cluster: cluster, AuthInfo: cluster}
	cfg.CurrentContext = cluster
	return cfg
}
