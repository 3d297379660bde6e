package kubelet

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/pkg/cap"
)

// A privileged container's spec against containerd's default one: each
// check reads one property, which the options must change.
func TestPrivilegedOpts(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "test")
	gen := func(opts ...oci.SpecOpts) *oci.Spec {
		t.Helper()
		s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "c"}, opts...)
		if err != nil {
			t.Fatalf("generating the spec: %v", err)
		}
		return s
	}
	plain, priv := gen(), gen(privilegedOpts()...)

	current, err := cap.Current()
	if err != nil {
		t.Fatal(err)
	}
	hostDevices, err := oci.HostDevices()
	if err != nil {
		t.Fatal(err)
	}
	var hostDevicePaths []string
	for _, d := range hostDevices {
		hostDevicePaths = append(hostDevicePaths, d.Path)
	}

	tests := []struct {
		name      string
		read      func(*oci.Spec) string
		wantPlain string // containerd's default, to show the check can fail
		want      string
	}{
		{"masked paths", func(s *oci.Spec) string { return fmt.Sprint(len(s.Linux.MaskedPaths) > 0) }, "true", "false"},
		{"read-only paths", func(s *oci.Spec) string { return fmt.Sprint(len(s.Linux.ReadonlyPaths) > 0) }, "true", "false"},
		{"/sys read-only", func(s *oci.Spec) string {
			for _, m := range s.Mounts {
				if m.Destination == "/sys" {
					return fmt.Sprint(slices.Contains(m.Options, "ro"))
				}
			}
			return "no /sys mount"
		}, "true", "false"},
		{"bounding capabilities are the agent's", func(s *oci.Spec) string {
			return fmt.Sprint(slices.Equal(s.Process.Capabilities.Bounding, current))
		}, "false", "true"},
		{"effective capabilities are the agent's", func(s *oci.Spec) string {
			return fmt.Sprint(slices.Equal(s.Process.Capabilities.Effective, current))
		}, "false", "true"},
		{"devices are the host's", func(s *oci.Spec) string {
			var paths []string
			for _, d := range s.Linux.Devices {
				paths = append(paths, d.Path)
			}
			return fmt.Sprint(len(paths) > 0 && slices.Equal(paths, hostDevicePaths))
		}, "false", "true"},
		{"devices cgroup", func(s *oci.Spec) string {
			var rules []string
			for _, d := range s.Linux.Resources.Devices {
				rules = append(rules, fmt.Sprintf("allow=%t type=%q access=%s", d.Allow, d.Type, d.Access))
			}
			return strings.Join(rules, "; ")
		}, plainDeviceRules(plain), `allow=true type="" access=rwm`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.read(plain); got != tt.wantPlain {
				t.Errorf("containerd's default spec: got %s, want %s", got, tt.wantPlain)
			}
			if got := tt.read(priv); got != tt.want {
				t.Errorf("privileged: got %s, want %s", got, tt.want)
			}
		})
	}
}

// plainDeviceRules is the default spec's devices cgroup: deny all first.
func plainDeviceRules(s *oci.Spec) string {
	if len(s.Linux.Resources.Devices) == 0 || s.Linux.Resources.Devices[0].Allow {
		return "not deny-all first"
	}
	var rules []string
	for _, d := range s.Linux.Resources.Devices {
		rules = append(rules, fmt.Sprintf("allow=%t type=%q access=%s", d.Allow, d.Type, d.Access))
	}
	return strings.Join(rules, "; ")
}
