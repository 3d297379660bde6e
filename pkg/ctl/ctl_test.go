package ctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"minik8s/pkg/restconfig"
)

// runCtl drives ctl in-process, as a user's shell would, with buffers for
// its output.
func runCtl(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	cmd := NewCommandWithStreams(context.Background(), streams)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// isolate keeps a test away from the machine's kubeconfigs and caches.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBECACHEDIR", filepath.Join(home, "cache"))
	return home
}

// closedPort is a local address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestUnreachableServer(t *testing.T) {
	isolate(t)
	server := "http://" + closedPort(t)
	want := "cannot reach the API server at " + server + ": connection refused — is it running? (start a lab with `ctl lab up`)"
	for _, args := range [][]string{
		{"get", "pods"},
		{"get", "deploy", "web", "-o", "yaml"},
		{"version"},
		{"describe", "node", "node1"},
		{"scale", "deployment", "web", "--replicas=2"},
		{"delete", "pod", "p"},
		{"rollout", "status", "deployment/web"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, err := runCtl(t, "", append(args, "-s", server)...)
			if err == nil {
				t.Fatalf("got no error, want one")
			}
			if ExitCode(err) == 0 {
				t.Errorf("got exit code 0, want non-zero")
			}
			if !strings.Contains(stderr, want) {
				t.Errorf("got stderr %q, want it to contain %q", stderr, want)
			}
		})
	}
}

func TestResolveConnection(t *testing.T) {
	tests := []struct {
		name       string
		flagConfig string
		envConfig  bool
		labConfig  bool
		homeConfig bool
		wantConfig string // relative to HOME, "" for none
		wantServer string
	}{
		{name: "nothing configured", wantServer: restconfig.DefaultServer},
		{name: "lab kubeconfig", labConfig: true, homeConfig: true, wantConfig: ".minik8s/lab/kubeconfig"},
		{name: "home kubeconfig", homeConfig: true},
		{name: "env before lab", envConfig: true, labConfig: true},
		{name: "flag before lab", flagConfig: "flag.yaml", labConfig: true, wantConfig: "flag.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolate(t)
			write := func(rel string) string {
				p := filepath.Join(home, rel)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			if tt.labConfig {
				write(".minik8s/lab/kubeconfig")
			}
			if tt.homeConfig {
				write(".kube/config")
			}
			if tt.envConfig {
				t.Setenv("KUBECONFIG", write("env.yaml"))
			}
			c := newConnection(&bytes.Buffer{})
			if tt.flagConfig != "" {
				*c.KubeConfig = write(tt.flagConfig)
			}
			c.resolve()
			wantConfig := ""
			if tt.wantConfig != "" {
				wantConfig = filepath.Join(home, tt.wantConfig)
			}
			if *c.KubeConfig != wantConfig {
				t.Errorf("got kubeconfig %q, want %q", *c.KubeConfig, wantConfig)
			}
			if *c.APIServer != tt.wantServer {
				t.Errorf("got server %q, want %q", *c.APIServer, tt.wantServer)
			}
		})
	}
}

func TestUnreachableErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{
			name: "refused",
			err:  &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)},
			want: "cannot reach the API server at http://10.200.0.1:6443: connection refused — is it running? (start a lab with `ctl lab up`)",
		},
		{
			name: "no such host",
			err:  &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nowhere"}},
			want: "cannot reach the API server at http://10.200.0.1:6443: lookup nowhere: no such host — is it running? (start a lab with `ctl lab up`)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := (&unreachableError{server: "http://10.200.0.1:6443", err: tt.err}).Error()
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("plain"), 1},
		{&exitError{code: 3}, 3},
		{fmt.Errorf("wrapped: %w", &exitError{code: 130}), 130},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestFlagErrorsAndUnknownFlags(t *testing.T) {
	isolate(t)
	_, stderr, err := runCtl(t, "", "get", "pods", "--no-such-flag")
	if err == nil {
		t.Fatal("got no error, want one")
	}
	if want := "error: unknown flag: --no-such-flag\nSee 'ctl get -h' for help and examples"; !strings.Contains(stderr, want) {
		t.Errorf("got stderr %q, want %q", stderr, want)
	}
}

func TestVerbs(t *testing.T) {
	cmd := NewCommandWithStreams(context.Background(), genericiooptions.NewTestIOStreamsDiscard())
	for _, path := range [][]string{
		{"apply"}, {"create"}, {"create", "namespace"}, {"create", "deployment"}, {"get"}, {"describe"},
		{"delete"}, {"scale"}, {"version"}, {"rollout", "status"}, {"rollout", "history"}, {"rollout", "undo"},
		{"rollout", "restart"}, {"rollout", "pause"}, {"rollout", "resume"}, {"set", "image"}, {"cordon"},
		{"uncordon"}, {"drain"}, {"taint"}, {"label"}, {"logs"}, {"exec"}, {"port-forward"}, {"attach"}, {"debug"}, {"explain"},
		{"create", "secret", "generic"}, {"certificate", "approve"}, {"certificate", "deny"}, {"create", "configmap"}, {"create", "job"}, {"create", "role"},
		{"auth", "can-i"}, {"auth", "whoami"}, {"auth", "reconcile"}, {"set", "subject"},
		{"create", "token"},
	} {
		found, rest, err := cmd.Find(path)
		if err != nil || len(rest) != 0 || found.Name() != path[len(path)-1] {
			t.Errorf("ctl %s: not found (%v)", strings.Join(path, " "), err)
		}
	}
}
