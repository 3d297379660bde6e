package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

type response struct {
	code    int
	body    []byte
	header  http.Header
	status  metav1.Status
	isError bool
}

func do(t *testing.T, s *apiservertest.Server, method, path, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := response{code: resp.StatusCode, body: data, header: resp.Header}
	if resp.StatusCode >= 300 {
		r.isError = true
		if err := json.Unmarshal(data, &r.status); err != nil || r.status.Kind != "Status" {
			t.Fatalf("%s %s: %d body is not a Status: %s", method, path, resp.StatusCode, data)
		}
	}
	return r
}

const podJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`

func TestBadInputStoresNothing(t *testing.T) {
	s := apiservertest.Start(t)
	big := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"big","annotations":{"a":%q}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`, strings.Repeat("x", 4<<20))
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		reason metav1.StatusReason
		field  string
	}{
		{"malformed JSON", "POST", "/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Pod",`, 400, metav1.StatusReasonBadRequest, ""},
		{"wrong types", "POST", "/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":"nope"}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"wrong kind for path", "POST", "/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"4 MiB body", "POST", "/api/v1/namespaces/default/pods", big, 413, metav1.StatusReasonRequestEntityTooLarge, ""},
		{"unknown resource", "POST", "/api/v1/namespaces/default/widgets", fmt.Sprintf(podJSON, "x"), 404, metav1.StatusReasonNotFound, ""},
		{"unknown group", "GET", "/apis/example.com/v1/widgets", "", 404, metav1.StatusReasonNotFound, ""},
		{"invalid object", "POST", "/api/v1/namespaces/default/pods", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"Bad_Name"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`, 422, metav1.StatusReasonInvalid, "metadata.name"},
		{"missing namespace", "POST", "/api/v1/namespaces/nope/pods", fmt.Sprintf(podJSON, "x"), 404, metav1.StatusReasonNotFound, ""},
		{"strict unknown field", "POST", "/api/v1/namespaces/default/pods?fieldValidation=Strict", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"foo":1,"containers":[{"name":"c","image":"busybox"}]}}`, 400, metav1.StatusReasonBadRequest, ""},
		{"unsupported patch", "PATCH", "/api/v1/namespaces/default/pods/x", `{}`, 415, metav1.StatusReasonUnsupportedMediaType, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := "application/json"
			if tt.method == "PATCH" {
				ct = "application/xml"
			}
			r := do(t, s, tt.method, tt.path, ct, []byte(tt.body))
			if r.code != tt.code || r.status.Reason != tt.reason {
				t.Fatalf("got %d %s (%s), want %d %s", r.code, r.status.Reason, r.status.Message, tt.code, tt.reason)
			}
			if tt.field != "" {
				found := false
				if r.status.Details != nil {
					for _, c := range r.status.Details.Causes {
						if c.Field == tt.field {
							found = true
						}
					}
				}
				if !found {
					t.Fatalf("no cause names field %s: %s", tt.field, r.body)
				}
			}
		})
	}
	cs := clientset(t, s)
	pods, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("after bad input: %v, %d pods stored, want 0", err, len(pods.Items))
	}
}

func TestUnknownFieldWarns(t *testing.T) {
	s := apiservertest.Start(t)
	r := do(t, s, "POST", "/api/v1/namespaces/default/pods", "application/json",
		[]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"w"},"spec":{"foo":1,"containers":[{"name":"c","image":"busybox"}]}}`))
	if r.code != 201 {
		t.Fatalf("got %d: %s", r.code, r.body)
	}
	if w := r.header.Get("Warning"); w != `299 - "unknown field \"spec.foo\""` {
		t.Fatalf("Warning header %q", w)
	}
}

func TestPatchTypes(t *testing.T) {
	s := apiservertest.Start(t)
	if r := do(t, s, "POST", "/api/v1/namespaces/default/pods", "application/json", []byte(fmt.Sprintf(podJSON, "p"))); r.code != 201 {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	tests := []struct {
		name  string
		ct    string
		patch string
		check func(p *corev1.Pod) bool
	}{
		{"merge", "application/merge-patch+json", `{"metadata":{"labels":{"m":"1"}}}`, func(p *corev1.Pod) bool { return p.Labels["m"] == "1" }},
		{"json", "application/json-patch+json", `[{"op":"add","path":"/metadata/labels","value":{"j":"1"}}]`, func(p *corev1.Pod) bool { return p.Labels["j"] == "1" }},
		{"strategic keeps the other container fields", "application/strategic-merge-patch+json",
			`{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}`,
			func(p *corev1.Pod) bool {
				return len(p.Spec.Containers) == 1 && p.Spec.Containers[0].Image == "busybox:2" && p.Spec.Containers[0].TerminationMessagePath != ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, s, "PATCH", "/api/v1/namespaces/default/pods/p", tt.ct, []byte(tt.patch))
			if r.code != 200 {
				t.Fatalf("got %d: %s", r.code, r.body)
			}
			var p corev1.Pod
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			if !tt.check(&p) {
				t.Fatalf("patch not applied: %s", r.body)
			}
		})
	}
	if r := do(t, s, "PATCH", "/api/v1/namespaces/default/pods/p", "text/plain", []byte(`{}`)); r.code != 415 {
		t.Fatalf("text/plain patch: got %d, want 415", r.code)
	}
	if r := do(t, s, "PATCH", "/api/v1/namespaces/default/pods/missing", "application/merge-patch+json", []byte(`{}`)); r.code != 404 {
		t.Fatalf("patch of a missing pod: got %d, want 404", r.code)
	}
}

func TestWatchResumeAnd410(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	list, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := pods.Create(ctx, newPod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Resume from the list's version: the three creates, in order.
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		ev := nextEvent(t, w)
		if p := ev.Object.(*corev1.Pod); p.Name != fmt.Sprintf("p%d", i) {
			t.Fatalf("event %d is %s %s", i, ev.Type, p.Name)
		}
	}
	w.Stop()
	// Compact, then resuming from the old version is 410 Expired.
	cur, err := s.Server.Store().CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Server.Store().Client().Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	w, err = pods.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, w)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != "ERROR" || !ok || st.Code != 410 || !apierrors.IsResourceExpired(&apierrors.StatusError{ErrStatus: *st}) {
		t.Fatalf("got %s %+v, want an ERROR event with 410 Expired", ev.Type, ev.Object)
	}
	w.Stop()

	// Bookmarks and timeoutSeconds on the raw stream.
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/namespaces/default/pods?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=2", nil)
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var types []string
	sawEnd := false
	start := time.Now()
	for sc.Scan() {
		var e struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		types = append(types, e.Type)
		if e.Type == "BOOKMARK" && strings.Contains(string(e.Object), "k8s.io/initial-events-end") {
			sawEnd = true
		}
	}
	if !sawEnd || len(types) < 4 || types[0] != "ADDED" {
		t.Fatalf("watch-list stream %v, want 3 ADDED then the initial-events-end bookmark", types)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("timeoutSeconds=2 stream lasted %s", time.Since(start))
	}
}

func TestSelectorsAndPaging(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		p := newPod(fmt.Sprintf("p%d", i))
		p.Labels = map[string]string{"tier": []string{"web", "db"}[i%2]}
		if i < 3 {
			p.Spec.NodeName = "node1"
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		opts  metav1.ListOptions
		want  int
		isErr bool
	}{
		{"equality", metav1.ListOptions{LabelSelector: "tier=web"}, 5, false},
		{"set based", metav1.ListOptions{LabelSelector: "tier in (web,db),tier!=db"}, 5, false},
		{"field nodeName", metav1.ListOptions{FieldSelector: "spec.nodeName=node1"}, 3, false},
		{"field and label", metav1.ListOptions{FieldSelector: "spec.nodeName=node1", LabelSelector: "tier=db"}, 1, false},
		{"field name", metav1.ListOptions{FieldSelector: "metadata.name=p7"}, 1, false},
		{"unsupported field", metav1.ListOptions{FieldSelector: "spec.foo=x"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := cs.CoreV1().Pods("default").List(ctx, tt.opts)
			if tt.isErr {
				if !apierrors.IsBadRequest(err) {
					t.Fatalf("got %v, want BadRequest", err)
				}
				return
			}
			if err != nil || len(l.Items) != tt.want {
				t.Fatalf("got %v, %d items, want %d", err, len(l.Items), tt.want)
			}
		})
	}
	// Paging.
	var names []string
	cont := ""
	pages := 0
	for {
		l, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{Limit: 4, Continue: cont})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, p := range l.Items {
			names = append(names, p.Name)
		}
		if l.Continue == "" {
			break
		}
		cont = l.Continue
	}
	if len(names) != 10 || pages != 3 {
		t.Fatalf("paged list: %d items in %d pages, want 10 in 3", len(names), pages)
	}
}

func TestBindingAndGracefulDelete(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	pods := cs.CoreV1().Pods("default")
	p, err := pods.Create(ctx, newPod("b"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bind := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node1"}}
	if err := pods.Bind(ctx, bind, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Bind(ctx, bind, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("second bind: got %v, want Conflict", err)
	}
	p, _ = pods.Get(ctx, "b", metav1.GetOptions{})
	scheduled := false
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
			scheduled = true
		}
	}
	if p.Spec.NodeName != "node1" || !scheduled {
		t.Fatalf("after bind: nodeName %q PodScheduled %v", p.Spec.NodeName, scheduled)
	}
	// A bound pod is deleted gracefully: it stays with a deletionTimestamp.
	if err := pods.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err = pods.Get(ctx, "b", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("bound pod gone at once: %v", err)
	}
	if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("deletionTimestamp %v grace %v, want set and 30", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
	}
	// As upstream: created at generation 1 (whatever the client sent), the
	// first graceful deletion moves it to 2, a second delete not again.
	if p.Generation != 2 {
		t.Fatalf("generation after the graceful delete: got %d, want 2", p.Generation)
	}
	if err := pods.Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(20))}); err != nil {
		t.Fatal(err)
	}
	if p, _ = pods.Get(ctx, "b", metav1.GetOptions{}); p.Generation != 2 || *p.DeletionGracePeriodSeconds != 20 {
		t.Fatalf("after a shorter second delete: generation %d grace %d, want 2 and 20", p.Generation, *p.DeletionGracePeriodSeconds)
	}
	// The agent finishes with grace 0 (and a uid precondition).
	uid := p.UID
	wrong := types.UID("nope")
	if err := pods.Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0)), Preconditions: &metav1.Preconditions{UID: &wrong}}); !apierrors.IsConflict(err) {
		t.Fatalf("delete with a wrong uid: got %v, want Conflict", err)
	}
	if err := pods.Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0)), Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "b", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("got %v, want NotFound", err)
	}

	// Finalizers hold a delete until the last one is removed.
	f := newPod("f")
	f.Finalizers = []string{"example.com/hold"}
	if _, err := pods.Create(ctx, f, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "f", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err = pods.Get(ctx, "f", metav1.GetOptions{})
	if err != nil || f.DeletionTimestamp == nil || f.Generation != 2 {
		t.Fatalf("pod with a finalizer: %v, deletionTimestamp %v, generation %d (want 2)", err, f.DeletionTimestamp, f.Generation)
	}
	f.Finalizers = nil
	if _, err := pods.Update(ctx, f, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "f", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after removing the last finalizer: got %v, want NotFound", err)
	}

	// Orphan propagation adds the orphan finalizer.
	d, err := cs.AppsV1().Deployments("default").Create(ctx, newDeployment("o", 1), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	orphan := metav1.DeletePropagationOrphan
	if err := cs.AppsV1().Deployments("default").Delete(ctx, d.Name, metav1.DeleteOptions{PropagationPolicy: &orphan}); err != nil {
		t.Fatal(err)
	}
	d, err = cs.AppsV1().Deployments("default").Get(ctx, "o", metav1.GetOptions{})
	if err != nil || d.DeletionTimestamp == nil || len(d.Finalizers) != 1 || d.Finalizers[0] != metav1.FinalizerOrphanDependents {
		t.Fatalf("orphan delete: %v, finalizers %v", err, d.Finalizers)
	}
}

func TestNamespaceTerminating(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "t"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Namespaces().Delete(ctx, "t", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err := cs.CoreV1().Namespaces().Get(ctx, "t", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("deleted namespace: %v, phase %s", err, ns.Status.Phase)
	}
	_, err = cs.CoreV1().Pods("t").Create(ctx, newPod("x"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("create in a terminating namespace: got %v, want Forbidden", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := cs.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "t", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after finalize: got %v, want NotFound", err)
	}
}

func TestServiceAllocationSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := apiservertest.StartWith(t, dir, nil)
	cs := clientset(t, s)
	ctx := context.Background()
	svcs := cs.CoreV1().Services("default")
	kube, err := svcs.Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || kube.Spec.ClusterIP != "10.96.0.1" || kube.Spec.Ports[0].Port != 443 {
		t.Fatalf("default/kubernetes: %v %+v", err, kube.Spec)
	}
	svc := func(name string, typ corev1.ServiceType, ip string, nodePort int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.ServiceSpec{Type: typ, ClusterIP: ip, Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: nodePort}}},
		}
	}
	a, err := svcs.Create(ctx, svc("a", corev1.ServiceTypeNodePort, "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	np := a.Spec.Ports[0].NodePort
	if a.Spec.ClusterIP == "" || np < 30000 || np > 32767 {
		t.Fatalf("allocated clusterIP %q nodePort %d", a.Spec.ClusterIP, np)
	}
	if h, err := svcs.Create(ctx, svc("h", corev1.ServiceTypeClusterIP, "None", 0), metav1.CreateOptions{}); err != nil || h.Spec.ClusterIP != "None" {
		t.Fatalf("headless: %v", err)
	}
	if _, err := svcs.Create(ctx, svc("out", corev1.ServiceTypeClusterIP, "10.1.0.5", 0), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("out of range IP: got %v, want Invalid", err)
	}
	s.Server.Close()

	s2 := apiservertest.StartWith(t, dir, nil)
	cs2 := clientset(t, s2)
	svcs2 := cs2.CoreV1().Services("default")
	if _, err := svcs2.Create(ctx, svc("b", corev1.ServiceTypeClusterIP, a.Spec.ClusterIP, 0), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("taken IP after restart: got %v, want Invalid", err)
	}
	if _, err := svcs2.Create(ctx, svc("c", corev1.ServiceTypeNodePort, "", np), metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("taken node port after restart: got %v, want Invalid", err)
	}
	// Released on delete.
	if err := svcs2.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := svcs2.Create(ctx, svc("d", corev1.ServiceTypeNodePort, a.Spec.ClusterIP, np), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("reuse after delete: %v", err)
	}
	// Released on type change.
	d.Spec.Type = corev1.ServiceTypeClusterIP
	d.Spec.Ports[0].NodePort = 0
	if _, err := svcs2.Update(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := svcs2.Create(ctx, svc("e", corev1.ServiceTypeNodePort, "", np), metav1.CreateOptions{}); err != nil {
		t.Fatalf("node port after type change: %v", err)
	}
}

func TestPortInUse(t *testing.T) {
	s := apiservertest.Start(t)
	cfg := apiserver.NewConfig()
	cfg.Listen = []string{s.Server.Addrs()[0]}
	cfg.DataDir = t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	_, err := apiserver.Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "address already in use — is another apiserver running?") {
		t.Fatalf("got %v", err)
	}
}
