package kubelet

import (
	"context"
	"flag"

	"github.com/spf13/cobra"
	"k8s.io/klog/v2"
)

// NewCommand is the kubelet-lite command.
func NewCommand(ctx context.Context) *cobra.Command {
	cfg := NewConfig()
	cmd := &cobra.Command{
		Use:          "kubelet-lite",
		Short:        "minik8s node agent: runs the pods bound to this node on containerd with CNI networking",
		SilenceUsage: true,
		Args:         cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			return Run(ctx, cfg)
		},
	}
	cfg.AddFlags(cmd.Flags())
	logFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(logFlags)
	cmd.Flags().AddGoFlag(logFlags.Lookup("v"))
	return cmd
}
