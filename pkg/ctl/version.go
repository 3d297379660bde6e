package ctl

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"
)

// VersionInfo is what `ctl version -o json|yaml` prints, in kubectl's shape.
type VersionInfo struct {
	ClientVersion *version.Info `json:"clientVersion,omitempty"`
	ServerVersion *version.Info `json:"serverVersion,omitempty"`
}

// newVersionCommand is ctl's own `version`: kubectl's would report the
// version stamped into a kubectl release build, which ctl is not.
func newVersionCommand(getter genericclioptions.RESTClientGetter, streams genericiooptions.IOStreams) *cobra.Command {
	var clientOnly bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "yaml" {
				return fmt.Errorf("--output must be 'yaml' or 'json'")
			}
			info := VersionInfo{ClientVersion: clientVersion()}
			var serverErr error
			if !clientOnly {
				dc, err := getter.ToDiscoveryClient()
				if err == nil {
					info.ServerVersion, err = dc.ServerVersion()
				}
				serverErr = err
			}
			switch output {
			case "json":
				b, err := json.MarshalIndent(info, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(streams.Out, string(b))
			case "yaml":
				b, err := yaml.Marshal(info)
				if err != nil {
					return err
				}
				fmt.Fprint(streams.Out, string(b))
			default:
				fmt.Fprintf(streams.Out, "Client Version: %s\n", info.ClientVersion.GitVersion)
				if info.ServerVersion != nil {
					fmt.Fprintf(streams.Out, "Server Version: %s\n", info.ServerVersion.GitVersion)
				}
			}
			return serverErr
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "If true, shows client version only (no server required).")
	cmd.Flags().StringVarP(&output, "output", "o", "", "One of 'yaml' or 'json'.")
	return cmd
}

// clientVersion reports the Kubernetes API level ctl was built against
// (client-go v0.X.Y speaks Kubernetes v1.X.Y) and the build's Go.
func clientVersion() *version.Info {
	info := &version.Info{
		Major:      "1",
		GitVersion: "v1.0.0-unknown",
		GoVersion:  runtime.Version(),
		Compiler:   runtime.Compiler,
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	for _, dep := range bi.Deps {
		if dep.Path != "k8s.io/client-go" {
			continue
		}
		if v, ok := strings.CutPrefix(dep.Version, "v0."); ok {
			info.GitVersion = "v1." + v
			info.Minor, _, _ = strings.Cut(v, ".")
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.GitCommit = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				info.GitTreeState = "dirty"
			} else {
				info.GitTreeState = "clean"
			}
		case "vcs.time":
			info.BuildDate = s.Value
		}
	}
	return info
}
