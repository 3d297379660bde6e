package ctl

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestLogs checks that `ctl logs` reaches a pod's node agent through the
// API server's pods/log proxy with kubelet's query parameters. A small
// HTTP server on 127.0.0.1 stands in for the node agent's API.
func TestLogs(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()

	var mu sync.Mutex
	var got []string
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		fmt.Fprintf(w, "log of %s\n", r.URL.Path)
	}))
	defer agent.Close()
	_, portText, _ := net.SplitHostPort(agent.Listener.Addr().String())
	port, _ := strconv.Atoi(portText)

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(port)}},
		},
	}
	if _, err := c.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := pod("p", nil, "node1")
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "minik8s/toolbox"})
	if _, err := c.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		args      []string
		wantOut   string
		wantQuery map[string]string
	}{
		{[]string{"logs", "p", "-c", "side"}, "log of /containerLogs/default/p/side\n", nil},
		{[]string{"logs", "p", "-c", "c", "--tail", "5", "--previous", "--timestamps"}, "log of /containerLogs/default/p/c\n",
			map[string]string{"tailLines": "5", "previous": "true", "timestamps": "true"}},
	}
	for _, tt := range tests {
		mu.Lock()
		got = nil
		mu.Unlock()
		out := c.ctl(tt.args...)
		if out != tt.wantOut {
			t.Errorf("ctl %v: got %q, want %q", tt.args, out, tt.wantOut)
		}
		mu.Lock()
		if len(got) != 1 {
			t.Errorf("ctl %v: agent got %d requests %v, want 1", tt.args, len(got), got)
		} else {
			for k, v := range tt.wantQuery {
				if want := k + "=" + v; !containsParam(got[0], want) {
					t.Errorf("ctl %v: agent got %s, want %s in the query", tt.args, got[0], want)
				}
			}
		}
		mu.Unlock()
	}

	// Two containers and no -c: kubectl's rule, the first one (it says so
	// on the process's own stderr).
	out, errOut, err := c.try("logs", "p")
	if err != nil || out != "log of /containerLogs/default/p/c\n" {
		t.Errorf("logs without -c: got %v, %q, %q", err, out, errOut)
	}
}

func containsParam(requestURI, param string) bool {
	u, err := url.Parse(requestURI)
	if err != nil {
		return false
	}
	k, v, _ := strings.Cut(param, "=")
	return u.Query().Get(k) == v
}
