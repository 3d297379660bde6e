package manager

import (
	"strings"
	"testing"
)

func TestEnabledControllers(t *testing.T) {
	tests := []struct {
		flag    []string
		want    []string
		wantErr bool
	}{
		{[]string{"*"}, All, false},
		{[]string{"*", "-nodeipam"}, []string{ReplicaSet, ReplicationController, Deployment, EndpointSlice, GarbageCollector, Namespace, NodeLifecycle, TaintEviction, LoadBalancer, ServiceAccount, RootCACertPublisher, Disruption}, false},
		{[]string{"replicaset", "deployment"}, []string{ReplicaSet, Deployment}, false},
		{[]string{"-deployment", "*"}, []string{ReplicaSet, ReplicationController, EndpointSlice, GarbageCollector, Namespace, NodeLifecycle, TaintEviction, NodeIPAM, LoadBalancer, ServiceAccount, RootCACertPublisher, Disruption}, false},
		{[]string{"*", "-root-ca-cert-publisher"}, []string{ReplicaSet, ReplicationController, Deployment, EndpointSlice, GarbageCollector, Namespace, NodeLifecycle, TaintEviction, NodeIPAM, LoadBalancer, ServiceAccount, Disruption}, false},
		{[]string{"nope"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.flag, ","), func(t *testing.T) {
			c := NewConfig()
			c.Controllers = tt.flag
			got, err := c.Enabled()
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for _, n := range tt.want {
				if !got[n] {
					t.Errorf("%s not enabled", n)
				}
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"pool range and cidr", func(c *Config) { c.LBPool = []string{"10.200.0.200-10.200.0.250", "10.201.0.0/28"} }, true},
		{"bad pool", func(c *Config) { c.LBPool = []string{"10.200.0.250-10.200.0.200"} }, false},
		{"mask shorter than cluster cidr", func(c *Config) { c.NodeCIDRMaskSize = 8 }, false},
		{"bad cluster cidr", func(c *Config) { c.ClusterCIDR = "x" }, false},
		{"zero grace", func(c *Config) { c.NodeMonitorGracePeriod = 0 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewConfig()
			tt.change(c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
