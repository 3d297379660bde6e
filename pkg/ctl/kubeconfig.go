package ctl

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/tools/clientcmd"

	"minik8s/pkg/pki"
)

// kubeconfigUserOptions are `ctl kubeconfig user`'s flags.
type kubeconfigUserOptions struct {
	certDir    string
	server     string
	clientName string
	org        []string
	cluster    string
}

// newKubeconfigCommand is `ctl kubeconfig user`, kubeadm's `kubeconfig
// user`: a kubeconfig with a new client certificate signed by the
// cluster CA, for a component or a person, printed on stdout. It needs
// the CA's key, so it runs on the control-plane host.
func newKubeconfigCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &kubeconfigUserOptions{cluster: "minik8s"}
	user := &cobra.Command{
		Use:   "user --client-name NAME [--org GROUP]... --server URL --cert-dir DIR",
		Short: "Print a kubeconfig with a client certificate of the cluster CA",
		Long: `Print a kubeconfig for the user --client-name in the groups --org, with a new
client certificate signed by the cluster CA in --cert-dir (ca.crt, ca.key: the
apiserver's --cert-dir, by default <data-dir>/pki), as kubeadm kubeconfig user.`,
		Example: `  # the scheduler's and controller-manager's kubeconfigs on the control-plane host
  ctl kubeconfig user --client-name system:kube-scheduler --server https://10.0.0.1:6443 \
    --cert-dir /var/lib/minik8s/apiserver/pki > /etc/minik8s/scheduler.conf
  # a person in the group devs
  ctl kubeconfig user --client-name jane --org devs --server https://10.0.0.1:6443 --cert-dir DIR > jane.conf`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(streams)
		},
	}
	user.Flags().StringVar(&o.certDir, "cert-dir", o.certDir, "directory of the cluster CA (ca.crt and ca.key)")
	user.Flags().StringVar(&o.server, "server", o.server, "the API server's URL, e.g. https://10.0.0.1:6443")
	user.Flags().StringVar(&o.clientName, "client-name", o.clientName, "the user the certificate names (its CN)")
	user.Flags().StringArrayVar(&o.org, "org", o.org, "a group of the user (its O; repeatable)")
	user.Flags().StringVar(&o.cluster, "cluster-name", o.cluster, "name of the cluster, user and context in the kubeconfig")
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Make kubeconfig files with certificates of the cluster CA",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(user)
	return cmd
}

func (o *kubeconfigUserOptions) run(streams genericiooptions.IOStreams) error {
	switch {
	case o.certDir == "":
		return fmt.Errorf("--cert-dir is required: the directory of the cluster CA (the apiserver's --cert-dir)")
	case o.clientName == "":
		return fmt.Errorf("--client-name is required: the user the certificate is for")
	case o.server == "":
		return fmt.Errorf("--server is required, e.g. https://10.0.0.1:6443")
	}
	if u, err := url.Parse(o.server); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("--server %q: want an https:// URL", o.server)
	}
	ca, err := pki.LoadCA(o.certDir)
	if err != nil {
		return fmt.Errorf("reading the cluster CA: %w (is --cert-dir the apiserver's certificate directory?)", err)
	}
	certPEM, keyPEM, err := ca.Issue(pki.ClientRequest(pki.Identity{User: o.clientName, Groups: o.org}))
	if err != nil {
		return err
	}
	cfg := pki.Kubeconfig(o.cluster, o.server, ca.CertPEM)
	cfg.AuthInfos[o.cluster].ClientCertificateData = certPEM
	cfg.AuthInfos[o.cluster].ClientKeyData = keyPEM
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	_, err = streams.Out.Write(data)
	return err
}
