package lab

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// NewCommand returns the `lab` verb of ctl.
func NewCommand(ctx context.Context) *cobra.Command {
	dir := DefaultDir()
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Run a multi-node minik8s cluster on this machine (root)",
		Long: `A lab is a minik8s cluster on one Linux machine: one network namespace per
node on the bridge mk8s0 (10.200.0.0/24), the control plane, containerd and a
registry in the root namespace, kept running by a supervisor.`,
		SilenceUsage: true,
	}
	cmd.PersistentFlags().StringVar(&dir, "state-dir", dir, "the lab's state directory")
	cmd.PersistentFlags().MarkHidden("state-dir")

	cfg := NewConfig()
	up := &cobra.Command{
		Use:          "up",
		Short:        "Create the lab (or report the running one) and wait until every node is Ready",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg.Dir = dir
			return Up(ctx, cfg, c.OutOrStdout())
		},
	}
	cfg.AddFlags(up.Flags())

	down := DownOptions{}
	downCmd := &cobra.Command{
		Use:          "down",
		Short:        "Stop the lab and remove every trace of it (safe to run twice)",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			down.Dir = dir
			return Down(down, c.OutOrStdout())
		},
	}
	downCmd.Flags().BoolVar(&down.KeepImages, "keep-images", false, "keep the registry's images for the next `lab up`")

	status := &cobra.Command{
		Use:          "status",
		Short:        "Show the lab's components, pids, logs and nodes",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			return Status(ctx, dir, c.OutOrStdout())
		},
	}

	var follow bool
	logs := &cobra.Command{
		Use:          "logs COMPONENT",
		Short:        "Print a component's log (containerd, registry, apiserver, controller-manager, scheduler, kubelet-node1 …, supervisor)",
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			return Logs(ctx, dir, args[0], follow, c.OutOrStdout())
		},
	}
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing what is appended")

	execCmd := &cobra.Command{
		Use:          "exec NODE -- COMMAND [ARG…]",
		Short:        "Run a command inside a node's network namespace",
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			err := Exec(ctx, dir, args[0], args[1:], os.Stdin, c.OutOrStdout(), c.ErrOrStderr())
			if ee, ok := err.(*ExitError); ok {
				c.SilenceErrors = true
				os.Exit(ee.Code)
			}
			return err
		},
	}
	execCmd.Flags().SetInterspersed(false)

	node := &cobra.Command{Use: "node", Short: "Power a node off or on", SilenceUsage: true}
	for _, on := range []bool{false, true} {
		verb, short := "stop", "Power a node off: its agent and containers stop, its link goes down"
		if on {
			verb, short = "start", "Power a node on again"
		}
		node.AddCommand(&cobra.Command{
			Use:          verb + " NODE",
			Short:        short,
			Args:         cobra.ExactArgs(1),
			SilenceUsage: true,
			RunE: func(c *cobra.Command, args []string) error {
				return NodePower(ctx, dir, args[0], on, c.OutOrStdout())
			},
		})
	}

	supervise := &cobra.Command{
		Use:          "supervise",
		Short:        "Keep the lab's components running (started by `lab up`)",
		Hidden:       true,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(*cobra.Command, []string) error {
			return Supervise(ctx, dir)
		},
	}
	cmd.AddCommand(up, downCmd, status, logs, execCmd, node, supervise)
	return cmd
}

// NewImageCommand returns the `image` verb of ctl.
func NewImageCommand(ctx context.Context) *cobra.Command {
	registry := RegistryAddr
	cmd := &cobra.Command{
		Use:          "image",
		Short:        "Manage the images in the lab registry",
		SilenceUsage: true,
	}
	cmd.PersistentFlags().StringVar(&registry, "registry", registry, "registry address (plain HTTP)")
	var rename string
	load := &cobra.Command{
		Use:   "load FILE.tar",
		Short: "Push the images of a docker-archive or OCI-layout tarball into the registry",
		Long: `Push the images of a tarball (docker save, podman save, skopeo/crane OCI
archives) into the lab registry. Names map as the agents' docker.io mirror
does: nginx:1.25 lands at REGISTRY/library/nginx:1.25, so "image: nginx:1.25"
in a manifest finds it.`,
		Args:         cobra.ExactArgs(1),
		SilenceUsage: true,
		RunE: func(c *cobra.Command, args []string) error {
			refs, err := LoadImage(ctx, registry, args[0], rename)
			for _, r := range refs {
				fmt.Fprintf(c.OutOrStdout(), "pushed %s\n", r)
			}
			return err
		},
	}
	load.Flags().StringVar(&rename, "name", "", "REPO:TAG for a tarball that holds one image")
	ls := &cobra.Command{
		Use:          "ls",
		Short:        "List the repositories and tags in the registry",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(c *cobra.Command, _ []string) error {
			refs, err := ListImages(ctx, registry)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST")
			for _, r := range refs {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Repository, r.Tag, r.Digest)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(load, ls, newPushCoreDNSCommand(ctx, &registry))
	return cmd
}
