package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	authorizerunion "k8s.io/apiserver/pkg/authorization/union"
)

// denyJane forbids everything to the user jane and allows everyone
// else, so a 403 can be had on a server that otherwise allows all.
var denyJane = authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser() != nil && a.GetUser().GetName() == "jane" {
		return authorizer.DecisionDeny, "jane may not", nil
	}
	return authorizer.DecisionAllow, "", nil
})

const testAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources:
  - group: ""
    resources: [configmaps]
- level: Metadata
`

// startAudited starts a server whose audit log is a file (with policy,
// if not empty) and whose authorizer forbids jane.
func startAudited(t *testing.T, policy string) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	cfg := NewConfig()
	cfg.Listen = []string{"127.0.0.1:0"}
	cfg.DataDir = filepath.Join(dir, "etcd")
	cfg.UnsafeNoFsync = true
	cfg.AuditLogPath = filepath.Join(dir, "audit", "audit.log")
	if policy != "" {
		cfg.AuditPolicyFile = filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(cfg.AuditPolicyFile, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if s.authorizer, err = authorizers(authorizerunion.NamedAuthorizer{AuthorizerName: "test", Authorizer: denyJane}); err != nil {
		t.Fatal(err)
	}
	return s, cfg.AuditLogPath
}

// auditEvents reads the log's events with the given audit ID.
func auditEvents(t *testing.T, path, id string) []auditv1.Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []auditv1.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("audit line is not an Event: %v: %s", err, sc.Text())
		}
		if ev.APIVersion != "audit.k8s.io/v1" || ev.Kind != "Event" {
			t.Fatalf("audit line is %s %s, want audit.k8s.io/v1 Event", ev.APIVersion, ev.Kind)
		}
		if string(ev.AuditID) == id {
			out = append(out, ev)
		}
	}
	return out
}

// TestAuditLog: each request is one Metadata event with who asked, what
// for and the answer's code; failed authentication (401) and
// authorization (403) are logged too; what the policy gives level None
// is not.
func TestAuditLog(t *testing.T) {
	s, path := startAudited(t, testAuditPolicy)
	h := s.Handler()
	for _, tt := range []struct {
		name   string
		method string
		path   string
		body   string
		header map[string]string
		// tls: the request came over TLS, so it is not the plain-HTTP
		// admin and needs credentials.
		tls bool

		wantCode     int
		wantReason   metav1.StatusReason
		wantLogged   bool
		wantUser     string
		wantAs       string
		wantVerb     string
		wantResource string
		wantNS       string
		wantName     string
	}{
		{name: "list", method: "GET", path: "/api/v1/namespaces/default/pods",
			wantCode: 200, wantLogged: true, wantUser: "system:unsecured", wantVerb: "list", wantResource: "pods", wantNS: "default"},
		{name: "create", method: "POST", path: "/api/v1/namespaces/default/secrets", body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"password":"hunter2"}}`,
			wantCode: 201, wantLogged: true, wantUser: "system:unsecured", wantVerb: "create", wantResource: "secrets", wantNS: "default", wantName: "db"},
		{name: "get missing", method: "GET", path: "/api/v1/namespaces/default/secrets/nope",
			wantCode: 404, wantReason: metav1.StatusReasonNotFound, wantLogged: true, wantUser: "system:unsecured", wantVerb: "get", wantResource: "secrets", wantNS: "default", wantName: "nope"},
		{name: "no credentials is 401", method: "GET", path: "/api/v1/namespaces/default/pods", tls: true,
			wantCode: 401, wantReason: metav1.StatusReasonUnauthorized, wantLogged: true, wantVerb: "list", wantResource: "pods", wantNS: "default"},
		{name: "forbidden is 403", method: "GET", path: "/api/v1/namespaces/default/pods/web", header: map[string]string{"Impersonate-User": "jane"},
			wantCode: 403, wantReason: metav1.StatusReasonForbidden, wantLogged: true, wantUser: "system:unsecured", wantAs: "jane", wantVerb: "get", wantResource: "pods", wantNS: "default", wantName: "web"},
		{name: "policy None", method: "GET", path: "/api/v1/namespaces/default/configmaps",
			wantCode: 200, wantLogged: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.wantCode {
				t.Fatalf("got %d, want %d: %s", w.Code, tt.wantCode, w.Body.String())
			}
			id := w.Header().Get("Audit-Id")
			if id == "" {
				t.Fatal("no Audit-Id header")
			}
			evs := auditEvents(t, path, id)
			if !tt.wantLogged {
				if len(evs) != 0 {
					t.Fatalf("got %d events, want none: %+v", len(evs), evs)
				}
				return
			}
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1: %+v", len(evs), evs)
			}
			ev := evs[0]
			if ev.Level != auditv1.LevelMetadata {
				t.Errorf("level: got %s, want Metadata", ev.Level)
			}
			if ev.User.Username != tt.wantUser {
				t.Errorf("user: got %q, want %q", ev.User.Username, tt.wantUser)
			}
			var as string
			if ev.ImpersonatedUser != nil {
				as = ev.ImpersonatedUser.Username
			}
			if as != tt.wantAs {
				t.Errorf("impersonated user: got %q, want %q", as, tt.wantAs)
			}
			if ev.Verb != tt.wantVerb {
				t.Errorf("verb: got %q, want %q", ev.Verb, tt.wantVerb)
			}
			if ev.RequestURI != tt.path {
				t.Errorf("requestURI: got %q, want %q", ev.RequestURI, tt.path)
			}
			if ev.ObjectRef == nil {
				t.Fatal("no objectRef")
			}
			if ev.ObjectRef.Resource != tt.wantResource || ev.ObjectRef.Namespace != tt.wantNS || ev.ObjectRef.Name != tt.wantName || ev.ObjectRef.APIVersion != "v1" {
				t.Errorf("objectRef: got %+v, want %s %s/%s in v1", *ev.ObjectRef, tt.wantResource, tt.wantNS, tt.wantName)
			}
			if ev.ResponseStatus == nil || int(ev.ResponseStatus.Code) != tt.wantCode || ev.ResponseStatus.Reason != tt.wantReason {
				t.Errorf("responseStatus: got %+v, want code %d reason %q", ev.ResponseStatus, tt.wantCode, tt.wantReason)
			}
			if ev.RequestObject != nil || ev.ResponseObject != nil {
				t.Error("a Metadata event carries a body")
			}
		})
	}
}

// TestAuditDefaultPolicy: without --audit-policy-file every request is
// recorded at Metadata level, once (ResponseComplete), and the file is
// the owner's only.
func TestAuditDefaultPolicy(t *testing.T) {
	s, path := startAudited(t, "")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/configmaps", nil))
	if w.Code != 200 {
		t.Fatalf("got %d, want 200", w.Code)
	}
	evs := auditEvents(t, path, w.Header().Get("Audit-Id"))
	if len(evs) != 1 || evs[0].Level != auditv1.LevelMetadata || evs[0].Stage != auditv1.StageResponseComplete {
		t.Fatalf("got %+v, want one Metadata ResponseComplete event", evs)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode: got %v, want 0600", fi.Mode().Perm())
	}
}

// TestAuditBodies: at Request level the event holds what was sent (the
// object, or the patch as sent), at RequestResponse also the answer;
// at Metadata neither.
func TestAuditBodies(t *testing.T) {
	s, path := startAudited(t, `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Request
  resources: [{group: "", resources: [services]}]
- level: RequestResponse
  resources: [{group: "", resources: [configmaps]}]
- level: Metadata
`)
	h := s.Handler()
	for _, tt := range []struct {
		name, method, path, contentType, body string
		wantCode                              int
		wantRequest, wantResponse             string // substrings; "" for none
	}{
		{"create at RequestResponse", "POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"sent"}}`,
			201, `"sent"`, `"resourceVersion"`},
		{"patch at RequestResponse", "PATCH", "/api/v1/namespaces/default/configmaps/c", "application/merge-patch+json", `{"data":{"k":"patched"}}`,
			200, `{"data":{"k":"patched"}}`, `"patched"`},
		{"error at RequestResponse", "GET", "/api/v1/namespaces/default/configmaps/nope", "", "",
			404, "", `"NotFound"`},
		{"list at RequestResponse", "GET", "/api/v1/namespaces/default/configmaps", "", "",
			200, "", `"ConfigMapList"`},
		{"create at Request", "POST", "/api/v1/namespaces/default/services", "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"ports":[{"port":80}]}}`,
			201, `"port":80`, ""},
		{"create at Metadata", "POST", "/api/v1/namespaces/default/secrets", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"},"stringData":{"k":"v"}}`,
			201, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tt.wantCode {
				t.Fatalf("got %d, want %d: %s", w.Code, tt.wantCode, w.Body.String())
			}
			evs := auditEvents(t, path, w.Header().Get("Audit-Id"))
			if len(evs) != 1 {
				t.Fatalf("got %d events, want 1", len(evs))
			}
			for _, c := range []struct {
				what string
				got  []byte
				want string
			}{{"requestObject", rawOf(evs[0].RequestObject), tt.wantRequest}, {"responseObject", rawOf(evs[0].ResponseObject), tt.wantResponse}} {
				if (c.want == "") != (c.got == nil) || !strings.Contains(string(c.got), c.want) {
					t.Errorf("%s: got %s, want one holding %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

func rawOf(u *runtime.Unknown) []byte {
	if u == nil {
		return nil
	}
	return u.Raw
}

// TestAuditWatch: a watch is long-running, so it is logged when its
// answer starts and again when it ends, as kube-apiserver logs it.
func TestAuditWatch(t *testing.T) {
	s, path := startAudited(t, "")
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1", nil))
	if w.Code != 200 {
		t.Fatalf("got %d, want 200: %s", w.Code, w.Body.String())
	}
	evs := auditEvents(t, path, w.Header().Get("Audit-Id"))
	var stages []string
	for _, ev := range evs {
		stages = append(stages, string(ev.Stage))
		if ev.Verb != "watch" {
			t.Errorf("verb: got %q, want watch", ev.Verb)
		}
	}
	if got, want := strings.Join(stages, ","), "ResponseStarted,ResponseComplete"; got != want {
		t.Errorf("stages: got %s, want %s", got, want)
	}
}
