package election

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string // substring of the error; "" for none
	}{
		{"defaults", nil, ""},
		{"lease not longer than renew deadline", []string{"--leader-elect-lease-duration=5s", "--leader-elect-renew-deadline=5s"}, "--leader-elect-lease-duration (5s) must be more than --leader-elect-renew-deadline (5s)"},
		{"retry too slow for the deadline", []string{"--leader-elect-retry-period=9s"}, "must be more than 1.2 times --leader-elect-retry-period (9s)"},
		{"no retry", []string{"--leader-elect-retry-period=0s"}, "--leader-elect-retry-period must be positive"},
		{"no lease name", []string{"--leader-elect-resource-name="}, "must not be empty"},
		{"off: nothing checked", []string{"--leader-elect=false", "--leader-elect-retry-period=0s"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConfig("kube-scheduler")
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			c.AddFlags(fs, "schedule")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestNewConfigIsUpstreamDefaults(t *testing.T) {
	want := Config{Enabled: true, Namespace: "kube-system", Name: "kube-controller-manager",
		LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}
	if got := NewConfig("kube-controller-manager"); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// With election off, Run leads at once with the caller's ctx and needs no
// API: the caller does not branch on --leader-elect itself.
func TestRunWithElectionOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	led := false
	err := Run(ctx, nil, Config{Enabled: false, RetryPeriod: 0}, nil, func(l context.Context) { led = l == ctx })
	if err != nil || !led {
		t.Fatalf("Run with election off: err %v, lead called with the caller's ctx: %v", err, led)
	}
}
