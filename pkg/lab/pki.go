package lab

import (
	"fmt"

	"minik8s/pkg/pki"
)

// labCluster names the lab in its kubeconfigs.
const labCluster = "minik8s-lab"

// writePKI makes the lab's CA at the first `up` (kept by later ones, so
// kubeconfigs copied elsewhere keep working) and a kubeconfig with a
// client certificate for everyone who talks to the apiserver: the user
// (cluster-admin), the controller-manager and scheduler (their
// system:kube-* users) on loopback, and each agent as system:node:NAME
// on the lab bridge. The apiserver makes its serving certificate from
// the same CA.
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
	for _, n := range nodes {
		writes = append(writes, struct {
			path, server string
			id           pki.Identity
		}{p.componentKubeconfig(n.Component()), bridge, pki.Node(n.Name())})
	}
	for _, w := range writes {
		if err := ca.WriteKubeconfig(w.path, labCluster, w.server, w.id); err != nil {
			return err
		}
	}
	// The apiserver's client certificate toward the agents' API.
	return ca.EnsureCert(p.pkiFile("apiserver-kubelet-client.crt"), p.pkiFile("apiserver-kubelet-client.key"), pki.ClientRequest(pki.APIServerKubeletClient))
}
