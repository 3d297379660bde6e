package scheduler

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"minik8s/pkg/election"
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
		// The election flags' own checks are election's tests; one case
		// shows they are wired into this command's flags and Validate.
		{"short lease", []string{"--leader-elect-lease-duration=5s", "--leader-elect-renew-deadline=5s"}, "--leader-elect-lease-duration (5s) must be more than --leader-elect-renew-deadline (5s)"},
		{"no election, no lease checks", []string{"--leader-elect=false", "--leader-elect-retry-period=0s"}, ""},
		{"own lease", []string{"--leader-elect-resource-namespace=sched", "--leader-elect-resource-name=mine", "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s"}, ""},
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
	// kube-scheduler's: on, kube-system/kube-scheduler, 15s/10s/2s.
	want := election.Config{Enabled: true, Namespace: "kube-system", Name: "kube-scheduler", LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
	if cfg.LeaderElection != want {
		t.Errorf("leader election defaults: got %+v, want %+v", cfg.LeaderElection, want)
	}
}
