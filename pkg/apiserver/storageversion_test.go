package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/apiserver/apiservertest"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// clientsets gives a typed clientset in each wire format the server
// speaks: protobuf (client-go's default) and JSON.
func clientsets(t *testing.T, s *apiservertest.Server) map[string]kubernetes.Interface {
	t.Helper()
	jsonCfg := rest.CopyConfig(s.Config)
	jsonCfg.ContentType = "application/json"
	jsonCfg.AcceptContentTypes = "application/json"
	cs, err := kubernetes.NewForConfig(jsonCfg)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]kubernetes.Interface{"protobuf": clientset(t, s), "json": cs}
}

func coreEvent(name, pod string) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, APIVersion: "v1"},
		Reason:              "Started",
		Message:             "started container c",
		Source:              corev1.EventSource{Component: "kubelet", Host: "node1"},
		Type:                corev1.EventTypeNormal,
		Count:               3,
		ReportingController: "kubelet",
	}
}

func eventsV1Event(name, pod string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name},
		EventTime:           metav1.NewMicroTime(time.Now()),
		Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: pod, APIVersion: "v1"},
		Reason:              "Scheduled",
		Note:                "assigned default/" + pod + " to node1",
		Action:              "Binding",
		Type:                corev1.EventTypeNormal,
		ReportingController: "default-scheduler",
		ReportingInstance:   "default-scheduler-node0",
	}
}

// TestEventsBothVersions: core/v1 and events.k8s.io/v1 serve the same
// Events, each with its own field names, through both wire formats.
func TestEventsBothVersions(t *testing.T) {
	s := apiservertest.Start(t)
	ctx := context.Background()
	for format, cs := range clientsets(t, s) {
		t.Run(format, func(t *testing.T) {
			core, err := cs.CoreV1().Events("default").Create(ctx, coreEvent("core-"+format, "web-"+format), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("core create: %v", err)
			}
			got, err := cs.EventsV1().Events("default").Get(ctx, core.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("events.k8s.io get: %v", err)
			}
			if got.Regarding.Name != "web-"+format || got.Regarding.Kind != "Pod" || got.Note != core.Message ||
				got.DeprecatedSource.Component != "kubelet" || got.DeprecatedSource.Host != "node1" ||
				got.DeprecatedCount != 3 || got.ReportingController != "kubelet" || got.Reason != "Started" ||
				got.ResourceVersion != core.ResourceVersion || got.UID != core.UID {
				t.Errorf("core event through events.k8s.io/v1: got %+v", got)
			}

			ev, err := cs.EventsV1().Events("default").Create(ctx, eventsV1Event("v1-"+format, "db-"+format), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("events.k8s.io create: %v", err)
			}
			if ev.Note == "" || ev.Regarding.Name != "db-"+format || ev.ResourceVersion == "" {
				t.Errorf("create answered %+v, want the events.k8s.io/v1 event", ev)
			}
			back, err := cs.CoreV1().Events("default").Get(ctx, ev.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("core get: %v", err)
			}
			if back.InvolvedObject.Name != "db-"+format || back.Message != ev.Note || back.ReportingController != "default-scheduler" ||
				back.ReportingInstance != "default-scheduler-node0" || back.Action != "Binding" || back.EventTime.IsZero() {
				t.Errorf("events.k8s.io event through core/v1: got %+v", back)
			}

			// Updates through events.k8s.io/v1 keep what they do not name.
			ev.Labels = map[string]string{"seen": "yes"}
			upd, err := cs.EventsV1().Events("default").Update(ctx, ev, metav1.UpdateOptions{})
			if err != nil || upd.Labels["seen"] != "yes" || upd.Note != ev.Note {
				t.Fatalf("update: got %v, %+v", err, upd)
			}
			if err := cs.EventsV1().Events("default").Delete(ctx, ev.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, err := cs.CoreV1().Events("default").Get(ctx, ev.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("core get after the events.k8s.io delete: got %v, want NotFound", err)
			}
		})
	}
}

// TestEventsV1ListWatchAndFieldSelectors: list and watch through
// events.k8s.io/v1 see events written through core/v1, and field
// selectors take events.k8s.io/v1's labels (upstream's conversion).
func TestEventsV1ListWatchAndFieldSelectors(t *testing.T) {
	s := apiservertest.Start(t)
	ctx := context.Background()
	for format, cs := range clientsets(t, s) {
		t.Run(format, func(t *testing.T) {
			ns := "ev-" + format
			if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			w, err := cs.EventsV1().Events(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "regarding.name=web"})
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			defer w.Stop()
			for _, e := range []*corev1.Event{coreEvent("a", "web"), coreEvent("b", "db")} {
				e.InvolvedObject.Namespace = ns
				if _, err := cs.CoreV1().Events(ns).Create(ctx, e, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			got := nextEvent(t, w)
			if ev, ok := got.Object.(*eventsv1.Event); got.Type != watch.Added || !ok || ev.Name != "a" || ev.Regarding.Name != "web" || ev.Note == "" {
				t.Fatalf("watch: got %s %#v, want ADDED of the events.k8s.io/v1 event a", got.Type, got.Object)
			}

			for _, tt := range []struct {
				selector string
				want     []string
			}{
				{"", []string{"a", "b"}},
				{"regarding.name=web", []string{"a"}},
				{"regarding.kind=Pod,regarding.name!=web", []string{"b"}},
				{"reportingController=kubelet", []string{"a", "b"}},
				{"reason=Started,type=Warning", nil},
				{"metadata.name=b", []string{"b"}},
			} {
				list, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: tt.selector})
				if err != nil {
					t.Fatalf("list %q: %v", tt.selector, err)
				}
				var names []string
				for _, it := range list.Items {
					names = append(names, it.Name)
					if it.Regarding.Name == "" || it.Note == "" {
						t.Errorf("list %q: item %s not converted: %+v", tt.selector, it.Name, it)
					}
				}
				if fmt.Sprint(names) != fmt.Sprint(tt.want) {
					t.Errorf("list %q: got %v, want %v", tt.selector, names, tt.want)
				}
			}
			// core/v1's labels are not events.k8s.io/v1's, and the other way.
			if _, err := cs.EventsV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"}); !apierrors.IsBadRequest(err) {
				t.Errorf("involvedObject.name through events.k8s.io/v1: got %v, want 400", err)
			}
			if _, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "regarding.name=web"}); !apierrors.IsBadRequest(err) {
				t.Errorf("regarding.name through core/v1: got %v, want 400", err)
			}
		})
	}
}

// TestEventsV1RawPaths: the paths that usually send stored bytes as they
// are (list, create, watch, tables) answer in events.k8s.io/v1.
func TestEventsV1RawPaths(t *testing.T) {
	s := apiservertest.Start(t)
	if r := do(t, s, "POST", "/api/v1/namespaces/default/events", "application/json", mustJSON(t, coreEvent("raw", "web"))); r.code != 201 {
		t.Fatalf("core create: %d %s", r.code, r.body)
	}
	created := do(t, s, "POST", "/apis/events.k8s.io/v1/namespaces/default/events", "application/json", mustJSON(t, eventsV1Event("raw2", "web")))
	list := do(t, s, "GET", "/apis/events.k8s.io/v1/namespaces/default/events", "", nil)
	one := do(t, s, "GET", "/apis/events.k8s.io/v1/namespaces/default/events/raw", "", nil)
	for _, tt := range []struct {
		name string
		r    response
		code int
		want []string
	}{
		{"create", created, 201, []string{`"apiVersion":"events.k8s.io/v1"`, `"note":"assigned default/web to node1"`, `"regarding":{`}},
		{"list", list, 200, []string{`"kind":"EventList","apiVersion":"events.k8s.io/v1"`, `"deprecatedSource":{"component":"kubelet","host":"node1"}`, `"note":"started container c"`}},
		{"get", one, 200, []string{`"kind":"Event","apiVersion":"events.k8s.io/v1"`, `"deprecatedCount":3`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.r.code != tt.code {
				t.Fatalf("got %d %s, want %d", tt.r.code, tt.r.body, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(tt.r.body), w) {
					t.Errorf("body %s lacks %s", tt.r.body, w)
				}
			}
			if strings.Contains(string(tt.r.body), `"involvedObject"`) {
				t.Errorf("body %s has core/v1 fields", tt.r.body)
			}
		})
	}

	req, _ := http.NewRequest("GET", s.URL+"/apis/events.k8s.io/v1/namespaces/default/events?includeObject=Object", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tbl metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&tbl); err != nil || resp.StatusCode != 200 {
		t.Fatalf("table: %v %d", err, resp.StatusCode)
	}
	// The server's own repair loop may record an Event in default too:
	// only the test's two count.
	ours := 0
	for _, row := range tbl.Rows {
		raw := string(row.Object.Raw)
		if !strings.Contains(raw, `"name":"raw"`) && !strings.Contains(raw, `"name":"raw2"`) {
			continue
		}
		ours++
		if !strings.Contains(raw, `"apiVersion":"events.k8s.io/v1"`) {
			t.Errorf("table row object %s, want events.k8s.io/v1", raw)
		}
	}
	if ours != 2 {
		t.Fatalf("table: %d rows of the test's events, want 2 (%d rows in all)", ours, len(tbl.Rows))
	}

	// Server-side apply through the second version: recorded in it.
	apply := do(t, s, "PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/raw?fieldManager=t", "application/apply-patch+yaml", []byte(`{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"raw","labels":{"a":"t"}}}`))
	if apply.code != http.StatusOK || !strings.Contains(string(apply.body), `"kind":"Event","apiVersion":"events.k8s.io/v1"`) ||
		!strings.Contains(string(apply.body), `"manager":"t","operation":"Apply","apiVersion":"events.k8s.io/v1"`) {
		t.Errorf("apply: got %d %s, want 200 with the applier recorded at events.k8s.io/v1", apply.code, apply.body)
	}
	patch := do(t, s, "PATCH", "/apis/events.k8s.io/v1/namespaces/default/events/raw", "application/json-patch+json", []byte(`[{"op":"add","path":"/metadata/labels","value":{"p":"json"}},{"op":"test","path":"/regarding/name","value":"web"}]`))
	if patch.code != 200 || !strings.Contains(string(patch.body), `"p":"json"`) || !strings.Contains(string(patch.body), `"regarding"`) {
		t.Errorf("JSON patch on events.k8s.io/v1 paths: got %d %s", patch.code, patch.body)
	}
}

// TestEventsV1Invalid: events.k8s.io/v1 validates by its own rules, with
// upstream's field paths.
func TestEventsV1Invalid(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		mutate func(*eventsv1.Event)
		want   []string
	}{
		{"no reportingController", func(e *eventsv1.Event) { e.ReportingController = "" }, []string{"reportingController"}},
		{"no eventTime", func(e *eventsv1.Event) { e.EventTime = metav1.MicroTime{} }, []string{"eventTime"}},
		{"bad type", func(e *eventsv1.Event) { e.Type = "Bad" }, []string{"type"}},
		{"deprecated fields set", func(e *eventsv1.Event) { e.DeprecatedCount = 2 }, []string{"count"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ev := eventsV1Event("bad", "web")
			tt.mutate(ev)
			_, err := cs.EventsV1().Events("default").Create(ctx, ev, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want 422", err)
			}
			st := err.(apierrors.APIStatus).Status()
			for _, f := range tt.want {
				if !slices.Contains(causeFields(st), f) {
					t.Errorf("causes %v lack %s", causeFields(st), f)
				}
			}
			if st.Details == nil || st.Details.Group != "events.k8s.io" {
				t.Errorf("details %+v, want the events.k8s.io group", st.Details)
			}
		})
	}
	// The same object is a valid core/v1 Event only by core/v1's rules.
	if _, err := cs.CoreV1().Events("default").Create(ctx, coreEvent("legacy", "web"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("core create: %v", err)
	}
}

func hpaV1(name string, cpu int32) *autoscalingv1.HorizontalPodAutoscaler {
	return &autoscalingv1.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
			ScaleTargetRef:                 autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:                    ptr.To[int32](1),
			MaxReplicas:                    5,
			TargetCPUUtilizationPercentage: ptr.To(cpu),
		},
	}
}

func cpuTarget(h *autoscalingv2.HorizontalPodAutoscaler) (int32, bool) {
	if len(h.Spec.Metrics) != 1 {
		return 0, false
	}
	m := h.Spec.Metrics[0]
	if m.Type != autoscalingv2.ResourceMetricSourceType || m.Resource == nil || m.Resource.Name != corev1.ResourceCPU ||
		m.Resource.Target.Type != autoscalingv2.UtilizationMetricType || m.Resource.Target.AverageUtilization == nil {
		return 0, false
	}
	return *m.Resource.Target.AverageUtilization, true
}

// TestHPAv1AndV2: autoscaling/v1 serves the autoscaling/v2
// HorizontalPodAutoscalers; targetCPUUtilizationPercentage is v2's cpu
// Utilization metric.
func TestHPAv1AndV2(t *testing.T) {
	s := apiservertest.Start(t)
	ctx := context.Background()
	for format, cs := range clientsets(t, s) {
		t.Run(format, func(t *testing.T) {
			v1 := cs.AutoscalingV1().HorizontalPodAutoscalers("default")
			v2 := cs.AutoscalingV2().HorizontalPodAutoscalers("default")
			if _, err := v1.Create(ctx, hpaV1("from-v1-"+format, 50), metav1.CreateOptions{}); err != nil {
				t.Fatalf("v1 create: %v", err)
			}
			got, err := v2.Get(ctx, "from-v1-"+format, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("v2 get: %v", err)
			}
			if cpu, ok := cpuTarget(got); !ok || cpu != 50 || got.Spec.MaxReplicas != 5 || got.Spec.ScaleTargetRef.Name != "web" {
				t.Errorf("v1 object through v2: got %+v, want one cpu Utilization metric of 50", got.Spec)
			}

			h2 := &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: "from-v2-" + format},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
					MaxReplicas:    4,
					Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
						Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](70)}}}},
				},
			}
			if _, err := v2.Create(ctx, h2, metav1.CreateOptions{}); err != nil {
				t.Fatalf("v2 create: %v", err)
			}
			back, err := v1.Get(ctx, h2.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("v1 get: %v", err)
			}
			if back.Spec.TargetCPUUtilizationPercentage == nil || *back.Spec.TargetCPUUtilizationPercentage != 70 || back.Spec.MaxReplicas != 4 || *back.Spec.MinReplicas != 1 {
				t.Errorf("v2 object through v1: got %+v, want targetCPUUtilizationPercentage 70, minReplicas defaulted to 1", back.Spec)
			}

			// An update through v1 changes the v2 object's metric.
			back.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](60)
			if _, err := v1.Update(ctx, back, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("v1 update: %v", err)
			}
			got, _ = v2.Get(ctx, h2.Name, metav1.GetOptions{})
			if cpu, _ := cpuTarget(got); cpu != 60 || got.Generation != 2 {
				t.Errorf("after the v1 update: v2 cpu %d generation %d, want 60 and 2", cpu, got.Generation)
			}

			// Status written through v1 reads through v2.
			st, _ := v1.Get(ctx, h2.Name, metav1.GetOptions{})
			st.Status = autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3, CurrentCPUUtilizationPercentage: ptr.To[int32](40)}
			if _, err := v1.UpdateStatus(ctx, st, metav1.UpdateOptions{}); err != nil {
				t.Fatalf("v1 status update: %v", err)
			}
			got, _ = v2.Get(ctx, h2.Name, metav1.GetOptions{})
			if got.Status.CurrentReplicas != 2 || got.Status.DesiredReplicas != 3 || len(got.Status.CurrentMetrics) != 1 {
				t.Errorf("status through v2: got %+v", got.Status)
			}

			w, err := v1.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + h2.Name, ResourceVersion: got.ResourceVersion})
			if err != nil {
				t.Fatalf("v1 watch: %v", err)
			}
			defer w.Stop()
			if err := v2.Delete(ctx, h2.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, w)
			if h, ok := ev.Object.(*autoscalingv1.HorizontalPodAutoscaler); ev.Type != watch.Deleted || !ok || *h.Spec.TargetCPUUtilizationPercentage != 60 {
				t.Errorf("v1 watch: got %s %#v, want DELETED of the v1 object", ev.Type, ev.Object)
			}
			list, err := v1.List(ctx, metav1.ListOptions{})
			if err != nil || len(list.Items) == 0 {
				t.Fatalf("v1 list: %v %v", err, list)
			}
			for _, it := range list.Items {
				if it.Spec.TargetCPUUtilizationPercentage == nil {
					t.Errorf("v1 list item %s: no targetCPUUtilizationPercentage", it.Name)
				}
			}
		})
	}
}

// TestHPAv1Patches: every patch type applies to the v1 JSON.
func TestHPAv1Patches(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	for i, tt := range []struct {
		pt    types.PatchType
		patch string
	}{
		{types.MergePatchType, `{"spec":{"targetCPUUtilizationPercentage":81}}`},
		{types.StrategicMergePatchType, `{"spec":{"targetCPUUtilizationPercentage":82}}`},
		{types.JSONPatchType, `[{"op":"replace","path":"/spec/targetCPUUtilizationPercentage","value":83}]`},
	} {
		t.Run(string(tt.pt), func(t *testing.T) {
			name := fmt.Sprintf("p%d", i)
			if _, err := cs.AutoscalingV1().HorizontalPodAutoscalers("default").Create(ctx, hpaV1(name, 50), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			out, err := cs.AutoscalingV1().HorizontalPodAutoscalers("default").Patch(ctx, name, tt.pt, []byte(tt.patch), metav1.PatchOptions{})
			want := int32(81 + i)
			if err != nil || *out.Spec.TargetCPUUtilizationPercentage != want {
				t.Fatalf("patch: got %v, %+v", err, out)
			}
			got, _ := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, name, metav1.GetOptions{})
			if cpu, _ := cpuTarget(got); cpu != want {
				t.Errorf("v2 cpu after the patch: got %d, want %d", cpu, want)
			}
		})
	}
}

// TestHPAv1Invalid: 422 with upstream's field paths (validation runs on
// the internal object, as in kube-apiserver).
func TestHPAv1Invalid(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		mutate func(*autoscalingv1.HorizontalPodAutoscaler)
		want   string
	}{
		{"maxReplicas 0", func(h *autoscalingv1.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }, "spec.maxReplicas"},
		{"cpu 0", func(h *autoscalingv1.HorizontalPodAutoscaler) {
			h.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](0)
		}, "spec.metrics[0].resource.target.averageUtilization"},
		{"no target kind", func(h *autoscalingv1.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "" }, "spec.scaleTargetRef.kind"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := hpaV1("bad", 50)
			tt.mutate(h)
			_, err := cs.AutoscalingV1().HorizontalPodAutoscalers("default").Create(ctx, h, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want 422", err)
			}
			if f := causeFields(err.(apierrors.APIStatus).Status()); !slices.Contains(f, tt.want) {
				t.Errorf("causes %v, want %s", f, tt.want)
			}
		})
	}
}

// TestSecondVersionDiscovery: autoscaling prefers v2 and lists v1;
// events.k8s.io serves v1.
func TestSecondVersionDiscovery(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	groups, err := cs.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"autoscaling": "[autoscaling/v2 autoscaling/v1] autoscaling/v2", "events.k8s.io": "[events.k8s.io/v1] events.k8s.io/v1"}
	for _, g := range groups.Groups {
		w, ok := want[g.Name]
		if !ok {
			continue
		}
		delete(want, g.Name)
		var versions []string
		for _, v := range g.Versions {
			versions = append(versions, v.GroupVersion)
		}
		if got := fmt.Sprintf("%v %s", versions, g.PreferredVersion.GroupVersion); got != w {
			t.Errorf("%s: got %s, want %s", g.Name, got, w)
		}
	}
	if len(want) > 0 {
		t.Errorf("groups missing: %v", want)
	}
	for gv, res := range map[string]string{"events.k8s.io/v1": "events", "autoscaling/v1": "horizontalpodautoscalers/status"} {
		list, err := cs.Discovery().ServerResourcesForGroupVersion(gv)
		if err != nil {
			t.Fatalf("%s: %v", gv, err)
		}
		found := false
		for _, r := range list.APIResources {
			found = found || r.Name == res
		}
		if !found {
			t.Errorf("%s lacks %s", gv, res)
		}
		if r := do(t, s, "GET", "/openapi/v3/apis/"+gv, "", nil); r.code != 200 || !strings.Contains(string(r.body), `"group":"`+strings.Split(gv, "/")[0]+`"`) {
			t.Errorf("OpenAPI v3 of %s: got %d", gv, r.code)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
