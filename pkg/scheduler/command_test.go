package scheduler

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestConfigFlagsAndValidate(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"names and parallelism", []string{"--scheduler-name=a", "--scheduler-name=b", "--parallelism=4", "--leader-elect"}, ""},
		{"zero parallelism", []string{"--parallelism=0"}, "--parallelism must be at least 1"},
		{"percentage", []string{"--percentage-of-nodes-to-score=101"}, "--percentage-of-nodes-to-score must be 0..100"},
		{"backoff", []string{"--backoff-initial=20s"}, "--backoff-initial must be positive and at most --backoff-max"},
		{"qps", []string{"--kube-api-qps=0"}, "--kube-api-qps and --kube-api-burst must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := NewConfig()
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			cfg.AddFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			err := cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
	cfg := NewConfig()
	if cfg.Parallelism != 16 || cfg.Conn.QPS != 5000 || cfg.Conn.Burst != 10000 || cfg.AssumeTTL != 30*time.Second || cfg.BackoffInitial != time.Second || cfg.BackoffMax != 10*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestHelpSaysLeaderElectIsNotImplemented(t *testing.T) {
	cmd := NewCommand(t.Context())
	f := cmd.Flags().Lookup("leader-elect")
	if f == nil || !strings.Contains(f.Usage, "NOT YET IMPLEMENTED") || !strings.Contains(cmd.Long, "not yet implemented") {
		t.Errorf("--leader-elect help does not say it is not implemented")
	}
}
