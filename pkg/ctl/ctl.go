package ctl

import (
	"context"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/cmd/annotate"
	"k8s.io/kubectl/pkg/cmd/apiresources"
	"k8s.io/kubectl/pkg/cmd/apply"
	"k8s.io/kubectl/pkg/cmd/attach"
	"k8s.io/kubectl/pkg/cmd/auth"
	"k8s.io/kubectl/pkg/cmd/autoscale"
	"k8s.io/kubectl/pkg/cmd/certificates"
	"k8s.io/kubectl/pkg/cmd/clusterinfo"
	"k8s.io/kubectl/pkg/cmd/config"
	"k8s.io/kubectl/pkg/cmd/cp"
	"k8s.io/kubectl/pkg/cmd/create"
	"k8s.io/kubectl/pkg/cmd/debug"
	"k8s.io/kubectl/pkg/cmd/delete"
	"k8s.io/kubectl/pkg/cmd/describe"
	"k8s.io/kubectl/pkg/cmd/diff"
	"k8s.io/kubectl/pkg/cmd/drain"
	"k8s.io/kubectl/pkg/cmd/edit"
	"k8s.io/kubectl/pkg/cmd/events"
	"k8s.io/kubectl/pkg/cmd/exec"
	"k8s.io/kubectl/pkg/cmd/explain"
	"k8s.io/kubectl/pkg/cmd/expose"
	"k8s.io/kubectl/pkg/cmd/get"
	"k8s.io/kubectl/pkg/cmd/kustomize"
	"k8s.io/kubectl/pkg/cmd/label"
	"k8s.io/kubectl/pkg/cmd/logs"
	"k8s.io/kubectl/pkg/cmd/patch"
	"k8s.io/kubectl/pkg/cmd/portforward"
	"k8s.io/kubectl/pkg/cmd/replace"
	"k8s.io/kubectl/pkg/cmd/rollout"
	"k8s.io/kubectl/pkg/cmd/run"
	"k8s.io/kubectl/pkg/cmd/scale"
	"k8s.io/kubectl/pkg/cmd/set"
	"k8s.io/kubectl/pkg/cmd/taint"
	"k8s.io/kubectl/pkg/cmd/top"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/cmd/wait"
)

// NewCommand returns the `ctl` root command on the process's stdin, stdout
// and stderr, with extra (e.g. `lab`, `image`) added as further verbs.
//
// ctl's own verbs print their errors to stderr themselves, kubectl-style,
// and return an error whose exit status ExitCode gives; main should exit
// with it without printing the error again.
func NewCommand(ctx context.Context, extra ...*cobra.Command) *cobra.Command {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	return NewCommandWithStreams(ctx, streams, extra...)
}

// NewCommandWithStreams is NewCommand on the given streams; tests drive ctl
// in-process with buffers through it.
func NewCommandWithStreams(ctx context.Context, streams genericiooptions.IOStreams, extra ...*cobra.Command) *cobra.Command {
	conn := newConnection(streams.ErrOut)
	root := &cobra.Command{
		Use:   "ctl",
		Short: "ctl controls a minik8s cluster",
		Long: "ctl controls a minik8s cluster. Its verbs are kubectl's and behave the same;\n" +
			"it finds the API server through --kubeconfig, $KUBECONFIG, the lab's kubeconfig\n" +
			"(~/.minik8s/lab/kubeconfig), ~/.kube/config, or -s/--server, else " + defaultServerNote + ".",
		SilenceUsage: true,
	}
	conn.AddFlags(root.PersistentFlags())

	// kubectl's commands report failures through cmdutil.CheckErr, which
	// exits the process; turn that into an error ctl's Run wrapper returns.
	cmdutil.BehaviorOnFatal(func(msg string, code int) { panic(fatal{msg: msg, code: code}) })

	// MatchVersionFlags gives every config kubectl's core/v1 defaults (exec
	// and logs build REST clients from it) and --match-server-version.
	matchVersion := cmdutil.NewMatchVersionFlags(conn)
	matchVersion.AddFlags(root.PersistentFlags())
	f := factory{cmdutil.NewFactory(matchVersion)}
	verbs := []*cobra.Command{
		apply.NewCmdApply("ctl", f, streams),
		newCreateCommand(f, streams),
		get.NewCmdGet("ctl", f, streams),
		describe.NewCmdDescribe("ctl", f, streams),
		delete.NewCmdDelete(f, streams),
		scale.NewCmdScale(f, streams),
		rollout.NewCmdRollout("ctl", f, streams),
		newSetCommand(f, streams),
		drain.NewCmdCordon(f, streams),
		drain.NewCmdUncordon(f, streams),
		drain.NewCmdDrain(f, streams),
		taint.NewCmdTaint(f, streams),
		label.NewCmdLabel(f, streams),
		annotate.NewCmdAnnotate("ctl", f, streams),
		logs.NewCmdLogs(f, streams),
		exec.NewCmdExec(f, streams),
		portforward.NewCmdPortForward(f, streams),
		attach.NewCmdAttach(f, streams),
		debug.NewCmdDebug(f, streams),
		apiresources.NewCmdAPIResources(conn, streams),
		explain.NewCmdExplain("ctl", f, streams),
		certificates.NewCmdCertificate(f, streams),
		newAuthCommand(f, streams),
		newVersionCommand(conn, streams),
		patch.NewCmdPatch(f, streams),
		replace.NewCmdReplace(f, streams),
		edit.NewCmdEdit(f, streams),
		diff.NewCmdDiff(f, streams),
		wait.NewCmdWait(f, streams),
		run.NewCmdRun(f, streams),
		expose.NewCmdExposeService(f, streams),
		autoscale.NewCmdAutoscale(f, streams),
		events.NewCmdEvents(f, streams),
		cp.NewCmdCp(f, streams),
		top.NewCmdTop(f, streams),
		clusterinfo.NewCmdClusterInfo(f, streams),
		kustomize.NewCmdKustomize(streams),
		config.NewCmdConfig(f, conn.pathOptions(), streams),
		newAddonsCommand(f, streams),
		newTokenCommand(f, streams),
		newKubeconfigCommand(streams),
	}
	for _, verb := range verbs {
		conn.adopt(ctx, verb, streams.ErrOut)
		root.AddCommand(verb)
	}
	root.AddCommand(extra...)
	return root
}

// newCreateCommand is kubectl's create (-f FILE) with the generators for
// the kinds minik8s serves, and create token (a TokenRequest).
func newCreateCommand(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return keepSubcommands(create.NewCmdCreate(f, streams), "namespace", "deployment", "service",
		"configmap", "secret", "serviceaccount", "token", "job", "cronjob", "ingress", "poddisruptionbudget", "priorityclass",
		"quota", "role", "rolebinding", "clusterrole", "clusterrolebinding")
}

// newAuthCommand is kubectl's auth (can-i, whoami, reconcile), with a
// can-i whose "no" is exit status 1 without leaving the process (kubectl's
// calls os.Exit).
func newAuthCommand(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := auth.NewCmdAuth(f, streams)
	for _, sub := range cmd.Commands() {
		if sub.Name() == "can-i" {
			cmd.RemoveCommand(sub)
			cmd.AddCommand(newCanICommand(f, streams, sub))
		}
	}
	return cmd
}

// newCanICommand is kubectl's can-i (its texts and flags, its
// CanIOptions) answering "no" with cmdutil.ErrExit.
func newCanICommand(f cmdutil.Factory, streams genericiooptions.IOStreams, upstream *cobra.Command) *cobra.Command {
	o := &auth.CanIOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                   upstream.Use,
		DisableFlagsInUseLine: true,
		Short:                 upstream.Short,
		Long:                  upstream.Long,
		Example:               upstream.Example,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := o.Complete(f, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if o.List {
				return o.RunAccessList()
			}
			allowed, err := o.RunAccessCheck()
			if err == nil && !allowed {
				return cmdutil.ErrExit
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "If true, check the specified action in all namespaces.")
	cmd.Flags().BoolVarP(&o.Quiet, "quiet", "q", o.Quiet, "If true, suppress output and just return the exit code.")
	cmd.Flags().StringVar(&o.Subresource, "subresource", o.Subresource, "SubResource such as pod/log or deployment/scale")
	cmd.Flags().BoolVar(&o.List, "list", o.List, "If true, prints all allowed actions.")
	cmd.Flags().BoolVar(&o.NoHeaders, "no-headers", o.NoHeaders, "If true, prints allowed actions without headers")
	return cmd
}

// newSetCommand is kubectl's set with the setters that apply to pod
// templates, and subject for RBAC bindings.
func newSetCommand(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return keepSubcommands(set.NewCmdSet(f, streams), "image", "env", "resources", "subject")
}

func keepSubcommands(cmd *cobra.Command, names ...string) *cobra.Command {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	for _, sub := range cmd.Commands() {
		if !keep[sub.Name()] {
			cmd.RemoveCommand(sub)
		}
	}
	return cmd
}

// rename makes kubectl's help text speak of ctl.
func rename(cmd *cobra.Command) {
	cmd.Example = strings.ReplaceAll(cmd.Example, "kubectl ", "ctl ")
	cmd.Long = strings.ReplaceAll(cmd.Long, "kubectl ", "ctl ")
}
