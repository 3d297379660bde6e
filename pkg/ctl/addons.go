package ctl

import (
	"context"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"minik8s/pkg/addons"
)

// newAddonsCommand is `ctl addons apply NAME`: the cluster add-ons minik8s
// ships, for clusters `ctl lab up` did not make.
func newAddonsCommand(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "addons",
		Short: "Install the cluster add-ons minik8s ships (dns: CoreDNS)",
	}
	dns := addons.NewDNSConfig()
	upstream := dns.Upstream
	apply := &cobra.Command{
		Use:   "apply NAME",
		Short: "Create or update an add-on's objects; applying again changes nothing",
		Long: "Create or update an add-on's objects. Applying again changes nothing: objects the\n" +
			"add-on reconciles are replaced only when its definition changed, and the Corefile's\n" +
			"ConfigMap is only created, so your edits to it stay (CoreDNS reloads them).\n\n" +
			"dns: CoreDNS as kubeadm installs it (Deployment coredns and Service kube-dns in\n" +
			"kube-system). Its image must be in a registry the nodes pull from: on real hosts,\n" +
			"build it with the lab (`ctl lab up` pushes it) or load one with `ctl image load`.",
		Example:      "  ctl addons apply dns\n  ctl addons apply dns --upstream none --replicas 1",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := f.KubernetesClientSet()
			if err != nil {
				return err
			}
			dns.Upstream = upstream
			if upstream == "none" {
				dns.Upstream = ""
			}
			return applyAddon(cmd.Context(), cs, args[0], dns, streams.Out)
		},
	}
	fs := apply.Flags()
	fs.StringVar(&dns.ClusterIP, "cluster-ip", dns.ClusterIP, "dns: ClusterIP of the kube-dns Service (the agents' --cluster-dns)")
	fs.StringVar(&dns.ClusterDomain, "cluster-domain", dns.ClusterDomain, "dns: cluster domain (the agents' --cluster-domain)")
	fs.StringVar(&dns.Image, "image", dns.Image, "dns: CoreDNS image")
	fs.Int32Var(&dns.Replicas, "replicas", dns.Replicas, "dns: CoreDNS replicas")
	fs.StringVar(&upstream, "upstream", upstream, "dns: where names outside the cluster are forwarded (CoreDNS forward: a resolv.conf path or addresses); none forwards nothing")
	fs.StringVar(&dns.APIServer, "apiserver", dns.APIServer, "dns: URL CoreDNS reaches the API server at (default: the default/kubernetes Service, http://CLUSTER-IP:PORT)")
	cmd.AddCommand(apply)
	return cmd
}

// applyAddon fills in the API server from the default/kubernetes Service
// when it is not given, then applies the add-on.
func applyAddon(ctx context.Context, cs kubernetes.Interface, name string, dns *addons.DNSConfig, out io.Writer) error {
	if name == "dns" && dns.APIServer == "" {
		url, err := addons.KubernetesServiceURL(ctx, cs)
		if err != nil {
			return err
		}
		dns.APIServer = url
	}
	objs, err := addons.Lookup(name, dns)
	if err != nil {
		return err
	}
	_, err = addons.Apply(ctx, cs, objs, out)
	return err
}
