package hostports

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestConflicts(t *testing.T) {
	tcp80 := HostPort{Protocol: v1.ProtocolTCP, Port: 80}
	for _, tt := range []struct {
		a, b HostPort
		want bool
	}{
		{tcp80, tcp80, true},
		{tcp80, HostPort{IP: "10.0.0.1", Protocol: v1.ProtocolTCP, Port: 80}, true}, // every address
		{HostPort{IP: "10.0.0.1", Protocol: v1.ProtocolTCP, Port: 80}, HostPort{IP: "10.0.0.2", Protocol: v1.ProtocolTCP, Port: 80}, false},
		{tcp80, HostPort{Protocol: v1.ProtocolUDP, Port: 80}, false},
		{tcp80, HostPort{Protocol: v1.ProtocolTCP, Port: 81}, false},
	} {
		if got := tt.a.Conflicts(tt.b); got != tt.want {
			t.Errorf("%+v conflicts with %+v: %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestOf(t *testing.T) {
	always := v1.ContainerRestartPolicyAlways
	pod := &v1.Pod{Spec: v1.PodSpec{
		InitContainers: []v1.Container{
			{Name: "once", Ports: []v1.ContainerPort{{HostPort: 1}}},
			{Name: "sidecar", RestartPolicy: &always, Ports: []v1.ContainerPort{{HostPort: 2, Protocol: v1.ProtocolUDP}}},
		},
		Containers: []v1.Container{{Name: "c", Ports: []v1.ContainerPort{{ContainerPort: 8080}, {HostPort: 3, HostIP: "10.0.0.1"}}}},
	}}
	got := Of(pod)
	want := []HostPort{{IP: "10.0.0.1", Protocol: v1.ProtocolTCP, Port: 3}, {Protocol: v1.ProtocolUDP, Port: 2}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Of = %+v, want %+v", got, want)
	}
	if _, bad := Conflict(got, []HostPort{{Protocol: v1.ProtocolUDP, Port: 2}}); !bad {
		t.Error("no conflict found on UDP 2")
	}
}
