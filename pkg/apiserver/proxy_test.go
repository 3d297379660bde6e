package apiserver_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A stand-in for the node agent's HTTP API: the proxying is the apiserver's.
func TestLogsProxiedToNodeAgent(t *testing.T) {
	var gotPath, gotQuery string
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		fmt.Fprint(w, "line 1\nline 2\n")
	}))
	defer agent.Close()
	_, portStr, _ := net.SplitHostPort(agent.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)

	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		},
	}
	created, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.DaemonEndpoints.KubeletEndpoint.Port != int32(port) || len(created.Status.Addresses) != 1 {
		t.Fatalf("node create dropped its status: %+v", created.Status)
	}
	two := newPod("two")
	two.Spec.Containers = append(two.Spec.Containers, corev1.Container{Name: "d", Image: "busybox"})
	for _, p := range []*corev1.Pod{newPod("one"), two, newPod("unbound")} {
		if p.Name != "unbound" {
			p.Spec.NodeName = "node1"
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		pod       string
		opts      corev1.PodLogOptions
		wantErr   bool
		wantPath  string
		wantQuery string
	}{
		{"one container", "one", corev1.PodLogOptions{TailLines: ptrInt64(5)}, false, "/containerLogs/default/one/c", "tailLines=5"},
		{"named container", "two", corev1.PodLogOptions{Container: "d", Follow: true}, false, "/containerLogs/default/two/d", "follow=true"},
		{"container needed", "two", corev1.PodLogOptions{}, true, "", ""},
		{"not bound", "unbound", corev1.PodLogOptions{}, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotPath, gotQuery = "", ""
			rc, err := cs.CoreV1().Pods("default").GetLogs(tt.pod, &tt.opts).Stream(ctx)
			if tt.wantErr {
				if err == nil {
					rc.Close()
					t.Fatal("got logs, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(rc)
			rc.Close()
			if string(data) != "line 1\nline 2\n" || gotPath != tt.wantPath || gotQuery != tt.wantQuery {
				t.Fatalf("got %q from %s?%s, want the agent's lines from %s?%s", data, gotPath, gotQuery, tt.wantPath, tt.wantQuery)
			}
		})
	}
}

func ptrInt64(n int64) *int64 { return &n }
