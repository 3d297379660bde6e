package kubelet

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// TestGRPCProbe runs the gRPC probe against a grpc.health.v1 server:
// SERVING passes, NOT_SERVING and an unknown service fail with the
// kubelet's words, and so does a port where nothing listens.
func TestGRPCProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("down", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	port := int32(l.Addr().(*net.TCPAddr).Port)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := int32(closed.Addr().(*net.TCPAddr).Port)
	closed.Close()

	tests := []struct {
		name    string
		action  v1.GRPCAction
		wantErr string // "" for success
	}{
		{name: "serving", action: v1.GRPCAction{Port: port}},
		{name: "not serving", action: v1.GRPCAction{Port: port, Service: ptr.To("down")}, wantErr: `service unhealthy (responded with "NOT_SERVING")`},
		{name: "unknown service", action: v1.GRPCAction{Port: port, Service: ptr.To("nope")}, wantErr: "NotFound"},
		{name: "nothing listens", action: v1.GRPCAction{Port: closedPort}, wantErr: "failed to connect service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := grpcProbe(ctx, "127.0.0.1", &tt.action)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
