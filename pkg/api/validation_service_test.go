package api

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidateService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []wantErr
	}{
		{name: "valid cluster ip", mutate: func(*corev1.Service) {}},
		{name: "valid requested cluster ip", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" }},
		{name: "valid node port", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30080
		}},
		{name: "valid load balancer with two named ports", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443, TargetPort: intstr.FromString("https")}}
		}},
		{name: "valid headless without ports", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = corev1.ClusterIPNone
			s.Spec.Ports = nil
		}},
		{name: "valid external name", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}
		}},
		{name: "name must be a DNS-1035 label", mutate: func(s *corev1.Service) { s.Name = "1web" }, want: []wantErr{invalid("metadata.name")}},
		{name: "name may not contain dots", mutate: func(s *corev1.Service) { s.Name = "web.v1" }, want: []wantErr{invalid("metadata.name")}},
		{name: "ports required", mutate: func(s *corev1.Service) { s.Spec.Ports = nil }, want: []wantErr{required("spec.ports")}},
		{name: "port zero", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 0; s.Spec.Ports[0].TargetPort = intstr.FromInt32(80) }, want: []wantErr{invalid("spec.ports[0].port")}},
		{name: "port too big", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Port = 65536 }, want: []wantErr{invalid("spec.ports[0].port"), invalid("spec.ports[0].targetPort")}},
		{name: "target port name invalid", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("no_underscores") }, want: []wantErr{invalid("spec.ports[0].targetPort")}},
		{name: "second port needs a name", mutate: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Port: 443}}
		}, want: []wantErr{required("spec.ports[1].name")}},
		{name: "port names unique", mutate: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "http", Port: 81}}
		}, want: []wantErr{duplicate("spec.ports[1].name")}},
		{name: "port and protocol unique", mutate: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
		}, want: []wantErr{duplicate("spec.ports[1]")}},
		{name: "same port on TCP and UDP is fine", mutate: func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "dns", Port: 53}, {Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}}
		}},
		{name: "bad protocol", mutate: func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, want: []wantErr{notSupported("spec.ports[0].protocol")}},
		{name: "node port on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, want: []wantErr{forbidden("spec.ports[0].nodePort")}},
		{name: "node port out of range", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 8080
		}, want: []wantErr{invalid("spec.ports[0].nodePort")}},
		{name: "node port used twice", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80, NodePort: 30001}, {Name: "b", Port: 81, NodePort: 30001}}
		}, want: []wantErr{duplicate("spec.ports[1].nodePort")}},
		{name: "type unknown", mutate: func(s *corev1.Service) { s.Spec.Type = "Magic" }, want: []wantErr{notSupported("spec.type")}},
		{name: "cluster ip not an IP", mutate: func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0" }, want: []wantErr{invalid("spec.clusterIP")}},
		{name: "headless node port", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP = corev1.ClusterIPNone
		}, want: []wantErr{invalid("spec.clusterIP")}},
		{name: "clusterIPs must start with clusterIP", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP = "10.96.0.10"
			s.Spec.ClusterIPs = []string{"10.96.0.11"}
		}, want: []wantErr{invalid("spec.clusterIPs[0]")}},
		{name: "external name required", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName}
		}, want: []wantErr{required("spec.externalName")}},
		{name: "external name invalid", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "not a name"}
		}, want: []wantErr{invalid("spec.externalName")}},
		{name: "bad selector", mutate: func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }, want: []wantErr{invalid("spec.selector")}},
		{name: "bad external ip", mutate: func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"nope"} }, want: []wantErr{invalid("spec.externalIPs[0]")}},
		{name: "session affinity unknown", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, want: []wantErr{notSupported("spec.sessionAffinity")}},
		{name: "external traffic policy on ClusterIP", mutate: func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, want: []wantErr{invalid("spec.externalTrafficPolicy")}},
		{name: "loadBalancerIP only for LoadBalancer", mutate: func(s *corev1.Service) { s.Spec.LoadBalancerIP = "10.200.0.200" }, want: []wantErr{forbidden("spec.loadBalancerIP")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService()
			tt.mutate(s)
			serviceStrategy.Default(s)
			checkErrs(t, serviceStrategy.Validate(ctx, s), tt.want...)
		})
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	old := newService()
	serviceStrategy.Default(old)
	old.Spec.ClusterIP = "10.96.0.10"
	old.Spec.ClusterIPs = []string{"10.96.0.10"}
	stored(old)

	changed := old.DeepCopy()
	changed.Spec.ClusterIP = "10.96.0.11"
	changed.Spec.ClusterIPs = []string{"10.96.0.11"}
	checkErrs(t, serviceStrategy.ValidateUpdate(ctx, changed, old), invalid("spec.clusterIP"))

	ports := old.DeepCopy()
	ports.Spec.Ports[0].Port = 8080
	checkErrs(t, serviceStrategy.ValidateUpdate(ctx, ports, old))
}

func TestServiceUpdateKeepsAllocations(t *testing.T) {
	old := newService()
	old.Spec.Type = corev1.ServiceTypeNodePort
	serviceStrategy.Default(old)
	old.Spec.ClusterIP = "10.96.0.10"
	old.Spec.ClusterIPs = []string{"10.96.0.10"}
	old.Spec.Ports[0].NodePort = 31234
	stored(old)

	// What `kubectl replace` of the original manifest sends.
	update := newService()
	update.Spec.Type = corev1.ServiceTypeNodePort
	serviceStrategy.Default(update)
	serviceStrategy.PrepareForUpdate(ctx, update, old)
	if update.Spec.ClusterIP != "10.96.0.10" || len(update.Spec.ClusterIPs) != 1 || update.Spec.Ports[0].NodePort != 31234 {
		t.Errorf("allocations not kept: clusterIP %q %v, nodePort %d", update.Spec.ClusterIP, update.Spec.ClusterIPs, update.Spec.Ports[0].NodePort)
	}
	if update.Generation != old.Generation {
		t.Errorf("generation moved to %d though nothing changed", update.Generation)
	}
	checkErrs(t, serviceStrategy.ValidateUpdate(ctx, update, old))
}

func TestValidateServiceStatusUpdate(t *testing.T) {
	old := stored(newService())
	serviceStrategy.Default(old)
	s := old.DeepCopy()
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.200.0.300"}}
	checkErrs(t, serviceStrategy.ValidateStatusUpdate(ctx, s, old), invalid("status.loadBalancer.ingress[0].ip"))
	s.Status.LoadBalancer.Ingress[0].IP = "10.200.0.200"
	checkErrs(t, serviceStrategy.ValidateStatusUpdate(ctx, s, old))
}
