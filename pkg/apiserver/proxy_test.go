package apiserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	"golang.org/x/net/websocket"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// A stand-in for the node agent's HTTP API: the proxying is the apiserver's.
func TestLogsProxiedToNodeAgent(t *testing.T) {
	var gotPath, gotQuery string
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		fmt.Fprint(w, "line 1\nline 2\n")
	}))
	defer agent.Close()
	_, cs := startWithLogPods(t, agent)
	ctx := context.Background()
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

// Kubernetes' e2e test "should support retrieving logs from the container
// over websockets" reads pods/log with golang.org/x/net/websocket, as here:
// the apiserver reads the agent's plain HTTP log and sends it as WebSocket
// messages (the first one empty, a ping), binary unless the client asks
// for base64.binary.k8s.io.
func TestLogsOverWebSocket(t *testing.T) {
	var gotPath, gotQuery string
	agent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotQuery = r.URL.Path, r.URL.RawQuery
		if strings.HasSuffix(r.URL.Path, "/d") {
			http.Error(w, "container d is not running", http.StatusNotFound)
			return
		}
		fmt.Fprint(w, "line 1\nline 2\n")
	}))
	defer agent.Close()
	s, _ := startWithLogPods(t, agent)
	wsBase := "wss" + strings.TrimPrefix(s.URL, "https") + "/api/v1/namespaces/default/pods/"
	tlsConfig, err := rest.TLSConfigFor(s.Config)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		protocol   string
		wantBase64 bool
	}{
		{"no subprotocol", "", false},
		{"binary.k8s.io", "binary.k8s.io", false},
		{"base64.binary.k8s.io", "base64.binary.k8s.io", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotPath, gotQuery = "", ""
			cfg, err := websocket.NewConfig(wsBase+"one/log?container=c&tailLines=5", "http://localhost")
			if err != nil {
				t.Fatal(err)
			}
			cfg.TlsConfig = tlsConfig
			if tt.protocol != "" {
				cfg.Protocol = []string{tt.protocol}
			}
			ws, err := websocket.DialConfig(cfg)
			if err != nil {
				t.Fatalf("dialling: %v", err)
			}
			defer ws.Close()
			var got bytes.Buffer
			for {
				var msg []byte
				if err := websocket.Message.Receive(ws, &msg); err != nil {
					if err == io.EOF {
						break
					}
					t.Fatalf("reading: %v", err)
				}
				if tt.wantBase64 {
					if msg, err = base64.StdEncoding.DecodeString(string(msg)); err != nil {
						t.Fatalf("got a message that is not base64: %v", err)
					}
				}
				got.Write(msg)
			}
			if got.String() != "line 1\nline 2\n" || gotPath != "/containerLogs/default/one/c" || gotQuery != "tailLines=5" {
				t.Fatalf("got %q from %s?%s, want the agent's lines from /containerLogs/default/one/c?tailLines=5", got.String(), gotPath, gotQuery)
			}
		})
	}

	// Errors come before the upgrade, as a Status with the HTTP code.
	errTests := []struct {
		name     string
		path     string
		protocol string
		wantCode int
	}{
		{"container needed", "two/log", "", http.StatusBadRequest},
		{"not bound", "unbound/log", "", http.StatusBadRequest},
		{"agent refuses", "two/log?container=d", "", http.StatusNotFound},
		{"unknown subprotocol", "one/log", "v5.channel.k8s.io, base64.k8s.io", http.StatusForbidden},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest("GET", s.URL+"/api/v1/namespaces/default/pods/"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			if tt.protocol != "" {
				req.Header.Set("Sec-WebSocket-Protocol", tt.protocol)
			}
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var st metav1.Status
			if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
				t.Fatalf("decoding the answer: %v", err)
			}
			if resp.StatusCode != tt.wantCode || st.Code != int32(tt.wantCode) {
				t.Fatalf("got HTTP %d, Status %d (%s), want %d", resp.StatusCode, st.Code, st.Message, tt.wantCode)
			}
		})
	}
}

// startWithLogPods starts an apiserver with node1, whose agent is agent,
// and three pods in default: one (container c) and two (c and d) on node1,
// unbound on no node.
func startWithLogPods(t *testing.T, agent *httptest.Server) (*apiservertest.Server, kubernetes.Interface) {
	t.Helper()
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
	return s, cs
}

func ptrInt64(n int64) *int64 { return &n }
