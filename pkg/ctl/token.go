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
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// DefaultNodeTokenGroup is the extra group of the tokens agents join
// with (kubeadm's system:bootstrappers:kubeadm:default-node-token).
const DefaultNodeTokenGroup = "system:bootstrappers:minik8s:default-node-token"

// tokenOptions are `ctl token create`'s flags, kubeadm's.
type tokenOptions struct {
	ttl         time.Duration
	description string
	usages      []string
	groups      []string
}

// newTokenCommand is `ctl token create|list`, kubeadm's token commands:
// bootstrap tokens agents join the cluster with.
func newTokenCommand(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage the bootstrap tokens agents join the cluster with",
		Long: "Bootstrap tokens, as kubeadm makes them: kube-system Secrets of type\n" +
			"bootstrap.kubernetes.io/token. An agent given one (--bootstrap-kubeconfig) asks\n" +
			"for its client certificate with it; the controller-manager approves and signs it.",
	}
	opts := tokenOptions{
		ttl:    24 * time.Hour,
		usages: []string{"signing", "authentication"},
		groups: []string{DefaultNodeTokenGroup},
	}
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
	fs.DurationVar(&opts.ttl, "ttl", opts.ttl, "how long the token is valid (0: forever)")
	fs.StringVar(&opts.description, "description", opts.description, "a human-friendly description of the token's use")
	fs.StringSliceVar(&opts.usages, "usages", opts.usages, fmt.Sprintf("how the token may be used (%s)", strings.Join(bootstrapapi.KnownTokenUsages, ",")))
	fs.StringSliceVar(&opts.groups, "groups", opts.groups, "extra groups the token authenticates as (each system:bootstrappers:…)")
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
	cmd.AddCommand(create, list)
	return cmd
}

// createToken stores a bootstrap token Secret and the bootstrap
// ClusterRoleBindings, and prints the token.
func createToken(ctx context.Context, cs kubernetes.Interface, token string, opts tokenOptions, out io.Writer) error {
	if token == "" {
		var err error
		if token, err = bootstraputil.GenerateBootstrapToken(); err != nil {
			return err
		}
	}
	if !bootstraputil.IsValidBootstrapToken(token) {
		return fmt.Errorf("token %q is not of the form %q", token, bootstrapapi.BootstrapTokenPattern)
	}
	if err := bootstraputil.ValidateUsages(opts.usages); err != nil {
		return err
	}
	for _, g := range opts.groups {
		if err := bootstraputil.ValidateBootstrapGroupName(g); err != nil {
			return err
		}
	}
	id, secret, _ := strings.Cut(token, ".")
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:     []byte(id),
		bootstrapapi.BootstrapTokenSecretKey: []byte(secret),
	}
	if opts.description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(opts.description)
	}
	if opts.ttl > 0 {
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(time.Now().Add(opts.ttl).UTC().Format(time.RFC3339))
	}
	for _, u := range opts.usages {
		data[bootstrapapi.BootstrapTokenUsagePrefix+u] = []byte("true")
	}
	if len(opts.groups) > 0 {
		data[bootstrapapi.BootstrapTokenExtraGroupsKey] = []byte(strings.Join(opts.groups, ","))
	}
	if err := ensureBootstrapBindings(ctx, cs); err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstraputil.BootstrapTokenSecretName(id), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data:       data,
	}
	if _, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("a token with id %q already exists", id)
		}
		return fmt.Errorf("creating the token: %w", err)
	}
	fmt.Fprintln(out, token)
	return nil
}

// bootstrapBindings are kubeadm's bootstrap-token phase's: the default
// node token's group may create CertificateSigningRequests and have its
// node client ones approved; nodes may have their renewals approved.
func bootstrapBindings() []*rbacv1.ClusterRoleBinding {
	binding := func(name, role, group string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}},
		}
	}
	return []*rbacv1.ClusterRoleBinding{
		binding("minik8s:kubelet-bootstrap", "system:node-bootstrapper", DefaultNodeTokenGroup),
		binding("minik8s:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", DefaultNodeTokenGroup),
		binding("minik8s:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
	}
}

func ensureBootstrapBindings(ctx context.Context, cs kubernetes.Interface) error {
	for _, b := range bootstrapBindings() {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ClusterRoleBinding %s: %w", b.Name, err)
		}
	}
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
