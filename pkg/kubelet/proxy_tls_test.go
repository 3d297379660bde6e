package kubelet

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/keyutil"
)

// TestAPIServerReachesSecureAPI: with --kubelet-client-certificate the
// apiserver reaches an agent's TLS API for `ctl logs`, checking the
// agent's certificate against --kubelet-certificate-authority, and the
// agent lets it through after a SubjectAccessReview on nodes/proxy.
func TestAPIServerReachesSecureAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	ca := newTestCA(t)
	ca.write(t, filepath.Join(dir, "ca.crt"))
	client := ca.client(t, "kube-apiserver-kubelet-client", "system:masters")
	keyPEM, err := keyutil.MarshalPrivateKeyToPEM(client.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	// The API server's side of the agent's reviews.
	var mu sync.Mutex
	var reviewed []authorizationv1.ResourceAttributes
	reviewer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var sar authorizationv1.SubjectAccessReview
		if err := json.NewDecoder(req.Body).Decode(&sar); err != nil {
			t.Error(err)
		}
		mu.Lock()
		reviewed = append(reviewed, *sar.Spec.ResourceAttributes)
		mu.Unlock()
		sar.Status.Allowed = sar.Spec.User == "kube-apiserver-kubelet-client"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(&sar)
	}))
	defer reviewer.Close()
	cfg := NewConfig()
	cfg.NodeName, cfg.CertDir, cfg.ClientCAFile = "n1", dir, filepath.Join(dir, "ca.crt")
	secure, err := newSecureAPI(ctx, cfg, "127.0.0.1", kubernetes.NewForConfigOrDie(&rest.Config{Host: reviewer.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}}))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "hello from "+req.PathValue("pod")+"/"+req.PathValue("container")+"\n")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agent := &http.Server{Handler: secure.filter(mux), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = agent.Serve(tls.NewListener(ln, secure.tls)) }()
	defer agent.Close()

	s := apiservertest.StartWith(t, t.TempDir(), func(c *apiserver.Config) {
		c.KubeletClientCertificate, c.KubeletClientKey = certFile, keyFile
		// The agent's self-signed serving certificate, made above.
		c.KubeletCertificateAuthority = filepath.Join(dir, "kubelet.crt")
	})
	rc := rest.CopyConfig(s.Config)
	rc.ContentType = "application/json"
	admin := kubernetes.NewForConfigOrDie(rc)
	node, err := admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(ln.Addr().(*net.TCPAddr).Port)
	if _, err := admin.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	logs, err := admin.CoreV1().Pods("default").GetLogs("p", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs through the apiserver: %v", err)
	}
	if string(logs) != "hello from p/c\n" {
		t.Errorf("got logs %q", logs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reviewed) != 1 || reviewed[0].Resource != "nodes" || reviewed[0].Subresource != "proxy" || reviewed[0].Name != "n1" || reviewed[0].Verb != "get" {
		t.Errorf("got reviews %+v, want one get nodes/proxy n1", reviewed)
	}
}
