package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"

	"minik8s/pkg/bootstraptoken"
	"minik8s/pkg/pki"
)

// labCluster names the lab in its kubeconfigs.
const labCluster = "minik8s-lab"

// writePKI makes the lab's CA at the first `up` (kept by later ones, so
// kubeconfigs copied elsewhere keep working) and a kubeconfig with a
// client certificate for the user (cluster-admin) and the
// controller-manager and scheduler (their system:kube-* users) on
// loopback; each agent gets a bootstrap kubeconfig on the lab bridge,
// with which it asks for its own certificate (system:node:NAME). The
// apiserver makes its serving certificate from the same CA.
func writePKI(p paths, nodes []Node) error {
	ca, err := pki.LoadOrCreateCA(p.pki(), "minik8s-lab-ca")
	if err != nil {
		return fmt.Errorf("the lab's CA: %w", err)
	}
	local := fmt.Sprintf("https://127.0.0.1:%d", APIPort)
	bridge := fmt.Sprintf("https://%s:%d", GatewayAddr, APIPort)
	writes := []struct {
		path, server string
		id           pki.Identity
	}{
		{p.kubeconfig(), local, pki.Admin},
		{p.componentKubeconfig("controller-manager"), local, pki.ControllerManager},
		{p.componentKubeconfig("scheduler"), local, pki.Scheduler},
	}
	for _, w := range writes {
		if err := ca.WriteKubeconfig(w.path, labCluster, w.server, w.id); err != nil {
			return err
		}
	}
	// The agents join with a bootstrap token, made anew at every `up`
	// (Up stores it once the apiserver answers): each asks for its
	// client certificate, which the controller-manager approves and signs
	// with this CA.
	token, err := bootstraputil.GenerateBootstrapToken()
	if err != nil {
		return err
	}
	if err := os.WriteFile(p.bootstrapToken(), []byte(token), 0o600); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(p.pkiFile(pki.CACertFile))
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if err := clientcmd.WriteToFile(*bootstraptoken.Kubeconfig(bridge, caPEM, token), p.bootstrapKubeconfig(n)); err != nil {
			return fmt.Errorf("writing %s: %w", p.bootstrapKubeconfig(n), err)
		}
	}
	// The apiserver's client certificate toward the agents' API.
	return ca.EnsureCert(p.pkiFile("apiserver-kubelet-client.crt"), p.pkiFile("apiserver-kubelet-client.key"), pki.ClientRequest(pki.APIServerKubeletClient))
}

// storeBootstrapToken puts the token writePKI gave the agents in the API
// (kube-system), with kubeadm's bindings, for a day.
func storeBootstrapToken(ctx context.Context, p paths, cs kubernetes.Interface) error {
	b, err := os.ReadFile(p.bootstrapToken())
	if err != nil {
		return err
	}
	opts := bootstraptoken.DefaultOptions()
	opts.Description = "the lab's agents, made by ctl lab up"
	if _, err := bootstraptoken.Create(ctx, cs, strings.TrimSpace(string(b)), opts); err != nil && !errors.Is(err, bootstraptoken.ErrExists) {
		return fmt.Errorf("the agents' bootstrap token: %w", err)
	}
	return nil
}
