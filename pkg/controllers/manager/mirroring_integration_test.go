package manager

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
)

// TestEndpointsMirroredIntoSlices: the Endpoints of a Service without a
// selector, written by hand, are mirrored into an EndpointSlice through
// create, update and delete (upstream's mirroring controller, what the
// conformance test "should mirror a custom Endpoints resource" checks),
// and the endpointslice controller leaves them alone; a Service with a
// selector and no pod has one empty slice of its own.
func TestEndpointsMirroredIntoSlices(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	startManager(t, srv.Config, EndpointSlice, EndpointSliceMirroring)

	within := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 15s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	slicesOf := func(svc string) []discoveryv1.EndpointSlice {
		l, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
		if err != nil {
			t.Fatal(err)
		}
		return l.Items
	}

	port := []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "custom"}, Spec: corev1.ServiceSpec{Ports: port}},
		{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}, Spec: corev1.ServiceSpec{Ports: port, Selector: map[string]string{"app": "none"}}},
	} {
		if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	within("the Service without pods gets an empty slice", func() bool {
		s := slicesOf("nobody")
		return len(s) == 1 && len(s[0].Endpoints) == 0 && s[0].Labels[discoveryv1.LabelManagedBy] == "endpointslice-controller.k8s.io"
	})

	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "custom"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "10.1.2.3"}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}
	ep, err := client.CoreV1().Endpoints("default").Create(ctx, ep, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mirrored := func(ip string, port int32) func() bool {
		return func() bool {
			s := slicesOf("custom")
			return len(s) == 1 && s[0].Labels[discoveryv1.LabelManagedBy] == "endpointslicemirroring-controller.k8s.io" &&
				len(s[0].Endpoints) == 1 && s[0].Endpoints[0].Addresses[0] == ip &&
				len(s[0].Ports) == 1 && *s[0].Ports[0].Port == port
		}
	}
	within("the hand-made Endpoints are mirrored", mirrored("10.1.2.3", 8080))

	ep.Subsets[0].Addresses[0].IP, ep.Subsets[0].Ports[0].Port = "10.1.2.4", 8081
	if _, err := client.CoreV1().Endpoints("default").Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	within("the update is mirrored", mirrored("10.1.2.4", 8081))
	if _, err := client.CoreV1().Endpoints("default").Get(ctx, "custom", metav1.GetOptions{}); err != nil {
		t.Fatalf("the updated Endpoints: %v, want them kept", err)
	}

	if err := client.CoreV1().Endpoints("default").Delete(ctx, "custom", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	within("the mirrored slice goes with the Endpoints", func() bool { return len(slicesOf("custom")) == 0 })
}
