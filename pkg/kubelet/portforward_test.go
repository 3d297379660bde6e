package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	streamhttp "k8s.io/streaming/pkg/httpstream"

	"minik8s/pkg/apiserver/apiservertest"
)

type onePod struct{ pod *v1.Pod }

func (o onePod) findPod(ns, name string) *v1.Pod {
	if o.pod.Namespace == ns && o.pod.Name == name {
		return o.pod
	}
	return nil
}

// TestPortForwardThroughAPIServer forwards a local port through a real API
// server to the agent's /portForward and on to a "pod" server on
// 127.0.0.1, with the dialers kubectl port-forward uses: SPDY tunnelled in
// a WebSocket (its default) and plain SPDY (its fallback).
func TestPortForwardThroughAPIServer(t *testing.T) {
	podSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "web-0")
	})}
	podLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = podSrv.Serve(podLn) }()
	t.Cleanup(func() { _ = podSrv.Close() })
	podPort := podLn.Addr().(*net.TCPAddr).Port

	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default"},
		Spec:       v1.PodSpec{NodeName: "node-a", Containers: []v1.Container{{Name: "web", Image: "minik8s/echo"}}},
	}
	agentPod := pod.DeepCopy()
	agentPod.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: "127.0.0.1"}
	srv := startAPIWithAgent(t, &handler{pods: onePod{agentPod}}, pod)
	cs := kubernetes.NewForConfigOrDie(srv.Config)
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("web-0").SubResource("portforward").URL()

	tests := []struct {
		name   string
		dialer func(t *testing.T) streamhttp.Dialer
	}{
		{"websocket tunnel", func(t *testing.T) streamhttp.Dialer {
			d, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, srv.Config)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}},
		{"spdy", func(t *testing.T) streamhttp.Dialer {
			rt, up, err := spdy.RoundTripperFor(srv.Config)
			if err != nil {
				t.Fatal(err)
			}
			return spdy.NewDialerForStreaming(up, &http.Client{Transport: rt}, "POST", u)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop, ready := make(chan struct{}), make(chan struct{})
			fw, err := portforward.NewOnAddressesForStreaming(tt.dialer(t), []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(podPort)}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("port-forward ended before it was ready: %v", err)
			}
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // two connections over one forwarding session
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
				if err != nil {
					t.Fatalf("GET %d: %v", i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if got, want := string(body), "web-0"; got != want {
					t.Errorf("GET %d: got %q, want %q", i, got, want)
				}
			}
			close(stop)
			if err := <-done; err != nil {
				t.Errorf("port-forward ended with %v", err)
			}
		})
	}
}

// startAPIWithAgent starts an API server that knows node-a, whose agent
// API is h on 127.0.0.1, and pod (bound to node-a).
func startAPIWithAgent(t *testing.T, h *handler, pod *v1.Pod) *apiservertest.Server {
	t.Helper()
	ctx := context.Background()
	agent := httptest.NewServer(h.mux())
	t.Cleanup(agent.Close)
	srv := apiservertest.Start(t)
	cs := kubernetes.NewForConfigOrDie(srv.Config)
	node, err := cs.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: pod.Spec.NodeName}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(agent.Listener.Addr().(*net.TCPAddr).Port)
	if _, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return srv
}
