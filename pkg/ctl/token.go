package ctl

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"minik8s/pkg/bootstraptoken"
)

// newTokenCommand is `ctl token create|list`, kubeadm's token commands:
// bootstrap tokens agents join the cluster with.
func newTokenCommand(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the bootstrap tokens agents join the cluster with (create, list, delete)",
		Long: "Bootstrap tokens, as kubeadm makes them: kube-system Secrets of type\n" +
			"bootstrap.kubernetes.io/token. An agent given one (--bootstrap-kubeconfig) asks\n" +
			"for its client certificate with it; the controller-manager approves and signs it.",
	}
	opts := bootstraptoken.DefaultOptions()
	create := &cobra.Command{
		Use:   "create [TOKEN]",
		Short: "Create a bootstrap token and print it",
		Long: "Create a bootstrap token (abcdef.0123456789abcdef, generated unless given) and print it.\n" +
			"It also makes sure the ClusterRoleBindings that let agents joining with the\n" +
			"default group ask for their certificates, and renew them, exist.",
		Example:      "  ctl token create\n  ctl token create --ttl 1h --description \"node n3\"",
		Args:         cobra.MaximumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := f.KubernetesClientSet()
			if err != nil {
				return err
			}
			token := ""
			if len(args) == 1 {
				token = args[0]
			}
			return createToken(cmd.Context(), cs, token, opts, streams.Out)
		},
	}
	fs := create.Flags()
	fs.DurationVar(&opts.TTL, "ttl", opts.TTL, "how long the token is valid (0: forever)")
	fs.StringVar(&opts.Description, "description", opts.Description, "a human-friendly description of the token's use")
	fs.StringSliceVar(&opts.Usages, "usages", opts.Usages, fmt.Sprintf("how the token may be used (%s)", strings.Join(bootstrapapi.KnownTokenUsages, ",")))
	fs.StringSliceVar(&opts.Groups, "groups", opts.Groups, "extra groups the token authenticates as (each system:bootstrappers:…)")
	list := &cobra.Command{
		Use:          "list",
		Short:        "List the bootstrap tokens",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs, err := f.KubernetesClientSet()
			if err != nil {
				return err
			}
			return listTokens(cmd.Context(), cs, time.Now(), streams.Out, streams.ErrOut)
		},
	}
	del := &cobra.Command{
		Use:          "delete TOKEN|ID...",
		Short:        "Delete bootstrap tokens, given as id.secret or by id",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cs, err := f.KubernetesClientSet()
			if err != nil {
				return err
			}
			for _, t := range args {
				if err := bootstraptoken.Delete(cmd.Context(), cs, t); err != nil {
					return err
				}
				id, _, _ := strings.Cut(t, ".")
				fmt.Fprintf(streams.Out, "bootstrap token %q deleted\n", id)
			}
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

// createToken stores a bootstrap token and prints it.
func createToken(ctx context.Context, cs kubernetes.Interface, token string, opts bootstraptoken.Options, out io.Writer) error {
	token, err := bootstraptoken.Create(ctx, cs, token, opts)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, token)
	return nil
}

// listTokens prints the tokens as `kubeadm token list` does.
func listTokens(ctx context.Context, cs kubernetes.Interface, now time.Time, out, errOut io.Writer) error {
	secrets, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)).String(),
	})
	if err != nil {
		return fmt.Errorf("listing the bootstrap tokens: %w", err)
	}
	tw := tabwriter.NewWriter(out, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "TOKEN\tTTL\tEXPIRES\tUSAGES\tDESCRIPTION\tEXTRA GROUPS")
	for i := range secrets.Items {
		s := &secrets.Items[i]
		id, secret := string(s.Data[bootstrapapi.BootstrapTokenIDKey]), string(s.Data[bootstrapapi.BootstrapTokenSecretKey])
		if !bootstraputil.IsValidBootstrapToken(id + "." + secret) {
			fmt.Fprintf(errOut, "secret %s does not hold a valid bootstrap token\n", s.Name)
			continue
		}
		ttl, expires := "<forever>", "<never>"
		if e := string(s.Data[bootstrapapi.BootstrapTokenExpirationKey]); e != "" {
			t, err := time.Parse(time.RFC3339, e)
			if err != nil {
				fmt.Fprintf(errOut, "secret %s: expiration %q is not RFC 3339\n", s.Name, e)
				continue
			}
			ttl, expires = duration.ShortHumanDuration(t.Sub(now)), t.Format(time.RFC3339)
		}
		var usages []string
		for k, v := range s.Data {
			if u, ok := strings.CutPrefix(k, bootstrapapi.BootstrapTokenUsagePrefix); ok && string(v) == "true" {
				usages = append(usages, u)
			}
		}
		slices.Sort(usages)
		fmt.Fprintf(tw, "%s\t%-9s\t%s\t%-22s\t%-56s\t%s\n", id+"."+secret, ttl, expires,
			orNone(strings.Join(usages, ",")), orNone(string(s.Data[bootstrapapi.BootstrapTokenDescriptionKey])),
			orNone(string(s.Data[bootstrapapi.BootstrapTokenExtraGroupsKey])))
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
