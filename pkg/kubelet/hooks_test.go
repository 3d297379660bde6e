package kubelet

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hookServer records the request URIs it gets and answers them with code.
type hookServer struct {
	mu   sync.Mutex
	uris []string
	srv  *httptest.Server
}

func newHookServer(t *testing.T, code int) *hookServer {
	h := &hookServer{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.uris = append(h.uris, r.RequestURI)
		h.mu.Unlock()
		rw.WriteHeader(code)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookServer) got(uri string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return contains(h.uris, uri)
}

// httpHook is an httpGet hook to addr (host:port) for path.
func httpHook(t *testing.T, addr, path string) *v1.LifecycleHandler {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Host: host, Port: intstr.FromInt32(int32(p)), Path: path}}
}

func TestPostStartHook(t *testing.T) {
	ok, failing := newHookServer(t, http.StatusOK), newHookServer(t, http.StatusInternalServerError)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tt := range []struct {
		name     string
		hook     *v1.LifecycleHandler
		execCode int
		// wantKilled: the container is stopped and started again.
		wantKilled bool
		server     *hookServer
	}{
		{name: "exec succeeds", hook: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}},
		{name: "exec fails", hook: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"false"}}}, execCode: 1, wantKilled: true},
		{name: "httpGet", hook: httpHook(t, ok.srv.Listener.Addr().String(), "/echo?msg=poststart"), server: ok},
		{name: "httpGet answered 500 is no failure", hook: httpHook(t, failing.srv.Listener.Addr().String(), "/echo?msg=poststart"), server: failing},
		{name: "httpGet that cannot connect", hook: httpHook(t, closed.Listener.Addr().String(), "/"), wantKilled: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rt := newFakeRuntime()
			rt.setExecCode(tt.execCode)
			pod := testPod(v1.RestartPolicyAlways)
			pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PostStart: tt.hook}
			_, client, _ := startWorker(t, pod, rt)
			if tt.wantKilled {
				eventually(t, "a restart", func() bool { return contains(rt.Calls(), "start c-1") })
			} else {
				eventually(t, "running", func() bool {
					st := lastStatus(client)
					return st != nil && st.Phase == v1.PodRunning && st.ContainerStatuses[0].State.Running != nil
				})
			}
			calls := rt.Calls()
			if got := contains(calls, "stop c-0"); got != tt.wantKilled {
				t.Errorf("got killed %v, want %v (calls %v)", got, tt.wantKilled, calls)
			}
			if tt.wantKilled && !contains(calls, "start c-1") {
				t.Errorf("calls = %v, want a restart after the kill", calls)
			}
			if tt.hook.Exec != nil && !contains(calls, "exec c-0") {
				t.Errorf("calls = %v, want the hook's exec in c-0", calls)
			}
			if tt.server != nil && !tt.server.got("/echo?msg=poststart") {
				t.Errorf("hook server got %v, want /echo?msg=poststart", tt.server.uris)
			}
		})
	}
}

func TestPreStopHTTPHook(t *testing.T) {
	srv := newHookServer(t, http.StatusOK)
	rt := newFakeRuntime()
	pod := testPod(v1.RestartPolicyAlways)
	pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: httpHook(t, srv.srv.Listener.Addr().String(), "/echo?msg=prestop")}
	w, client, _ := startWorker(t, pod, rt)
	eventually(t, "running", func() bool {
		st := lastStatus(client)
		return st != nil && st.Phase == v1.PodRunning
	})
	if srv.got("/echo?msg=prestop") {
		t.Fatal("preStop hook ran before the pod was deleted")
	}
	del := pod.DeepCopy()
	now := metav1.Now()
	del.DeletionTimestamp = &now
	w.update(del)
	<-w.done
	if !srv.got("/echo?msg=prestop") {
		t.Errorf("hook server got %v, want /echo?msg=prestop", srv.uris)
	}
	if calls := rt.Calls(); !contains(calls, "stop c-0") {
		t.Errorf("calls = %v, want c-0 stopped after its hook", calls)
	}
}
