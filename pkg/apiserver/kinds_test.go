package apiserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"minik8s/pkg/api"
	"minik8s/pkg/apiserver/apiservertest"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

// causeFields are the field paths a Status names.
func causeFields(st metav1.Status) []string {
	var out []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			out = append(out, c.Field)
		}
	}
	return out
}

// TestStrictFieldValidation: unknown fields under fieldValidation=Strict
// are refused as kube-apiserver refuses them: a body with them is 400, a
// patch that brings them is 422 on the field "patch".
func TestStrictFieldValidation(t *testing.T) {
	s := apiservertest.Start(t)
	r := do(t, s, "POST", "/api/v1/namespaces/default/configmaps?fieldValidation=Strict", "application/json",
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"b"},"bogus":1}`))
	want := `ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "bogus"`
	if r.code != 400 || r.status.Reason != metav1.StatusReasonBadRequest || r.status.Message != want {
		t.Fatalf("create: got %d %s %q, want 400 BadRequest %q", r.code, r.status.Reason, r.status.Message, want)
	}
	if r := do(t, s, "POST", "/api/v1/namespaces/default/configmaps", "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}`)); r.code != 201 {
		t.Fatalf("create: got %d %s", r.code, r.body)
	}
	r = do(t, s, "PATCH", "/api/v1/namespaces/default/configmaps/c?fieldValidation=Strict", "application/merge-patch+json", []byte(`{"bogus":1}`))
	if r.code != 422 || fmt.Sprint(causeFields(r.status)) != "[patch]" || !strings.Contains(r.status.Message, `strict decoding error: unknown field "bogus"`) {
		t.Fatalf("patch: got %d %v %q, want 422 on patch with the strict decoding error", r.code, causeFields(r.status), r.status.Message)
	}
}

// TestNewKindsBadInput: the kinds served through upstream's strategies
// answer bad bodies with 4xx and a message, never a 500, and store
// nothing.
func TestNewKindsBadInput(t *testing.T) {
	s := apiservertest.Start(t)
	big := strings.Repeat("x", 4<<20)
	for _, r := range api.Resources() {
		if r.Group == "" && r.Version == "v1" && (r.Plural == "pods" || r.Plural == "namespaces" || r.Plural == "nodes") {
			continue
		}
		prefix := "/api/v1"
		if r.Group != "" {
			prefix = "/apis/" + r.Group + "/" + r.Version
		}
		path := prefix + "/" + r.Plural
		if r.Namespaced {
			path = prefix + "/namespaces/default/" + r.Plural
		}
		apiVersion := r.GroupVersion().String()
		bodies := map[string]string{
			"malformed":  fmt.Sprintf(`{"apiVersion":%q,"kind":%q,`, apiVersion, r.Kind),
			"wrong type": fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":"x"}`, apiVersion, r.Kind),
			"no name":    fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{}}`, apiVersion, r.Kind),
			"oversized":  fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"metadata":{"name":"x","annotations":{"a":%q}}}`, apiVersion, r.Kind, big),
		}
		if r.Virtual {
			// A review has no name to miss, and nothing to list.
			delete(bodies, "no name")
		}
		for name, body := range bodies {
			t.Run(r.Plural+"/"+name, func(t *testing.T) {
				resp := do(t, s, "POST", path, "application/json", []byte(body))
				if resp.code < 400 || resp.code >= 500 || resp.status.Message == "" {
					t.Fatalf("got %d %q, want a 4xx with a message", resp.code, resp.status.Message)
				}
			})
		}
		if r.Namespaced && !r.Virtual {
			list := do(t, s, "GET", path, "", nil)
			if list.code != 200 || strings.Contains(string(list.body), `"name":"x"`) {
				t.Errorf("%s: after bad input got %d %s, want an empty list", r.Plural, list.code, list.body)
			}
		}
	}
}

// TestPriorityAdmission: priorityClassName resolves into spec.priority,
// an unknown class is 403 in upstream's words, a second global default
// is refused, and the system classes exist.
func TestPriorityAdmission(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	if _, err := cs.SchedulingV1().PriorityClasses().Get(ctx, "system-node-critical", metav1.GetOptions{}); err != nil {
		t.Fatalf("system-node-critical: %v", err)
	}
	pod := func(name, class string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{PriorityClassName: class, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
	}
	_, err := cs.CoreV1().Pods("default").Create(ctx, pod("nope", "gold"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || err.Error() != `pods "nope" is forbidden: no PriorityClass with name gold was found` {
		t.Fatalf("unknown class: got %v, want 403 naming the class", err)
	}
	got, err := cs.CoreV1().Pods("default").Create(ctx, pod("critical", "system-cluster-critical"), metav1.CreateOptions{})
	if err != nil || got.Spec.Priority == nil || *got.Spec.Priority != 2000000000 || *got.Spec.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Fatalf("system-cluster-critical: got %v, %+v", err, got.Spec.Priority)
	}
	plain, err := cs.CoreV1().Pods("default").Create(ctx, pod("plain", ""), metav1.CreateOptions{})
	if err != nil || plain.Spec.Priority == nil || *plain.Spec.Priority != 0 {
		t.Fatalf("no class: got %v, priority %v, want 0", err, plain.Spec.Priority)
	}
	p := pod("forged", "system-cluster-critical")
	p.Spec.Priority = ptr.To(int32(5))
	if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "the integer value of priority (5) must not be provided in pod spec") {
		t.Fatalf("forged priority: got %v", err)
	}
	def := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 10, GlobalDefault: true}
	if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, def, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The global default is read from an informer: it applies once the
	// informer has seen the new class.
	var defaulted *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_ = cs.CoreV1().Pods("default").Delete(ctx, "defaulted", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		p, err := cs.CoreV1().Pods("default").Create(ctx, pod("defaulted", ""), metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		defaulted = p
		return p.Spec.PriorityClassName == "low", nil
	})
	if err != nil || *defaulted.Spec.Priority != 10 {
		t.Fatalf("global default: got %v, class %q", err, defaulted.Spec.PriorityClassName)
	}
	second := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "other"}, Value: 20, GlobalDefault: true}
	if _, err := cs.SchedulingV1().PriorityClasses().Create(ctx, second, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("second global default: got %v, want 403", err)
	}
}

// TestSingleStackServices: IPv6 and dual-stack Services are refused on
// this single-stack IPv4 cluster with upstream's field paths, and nothing
// is stored.
func TestSingleStackServices(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	svc := func(name string, mutate func(*corev1.Service)) *corev1.Service {
		out := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []corev1.ServicePort{{Port: 80}}},
		}
		mutate(out)
		return out
	}
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		field  string
	}{
		{"IPv6 cluster IP", func(s *corev1.Service) { s.Spec.ClusterIP = "fd00::10" }, "spec.clusterIPs[0]"},
		{"IPv6 family", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }, "spec.ipFamilies[0]"},
		{"require dual-stack", func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		}, "spec.ipFamilyPolicy"},
		{"prefer dual-stack with both families", func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}, "spec.ipFamilies[1]"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cs.CoreV1().Services("default").Create(ctx, svc(fmt.Sprintf("s%d", i), tt.mutate), metav1.CreateOptions{})
			var st apierrors.APIStatus
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "not configured") {
				t.Fatalf("got %v, want 422 saying it is not configured", err)
			}
			st = err.(apierrors.APIStatus)
			if fields := causeFields(st.Status()); !slices.Contains(fields, tt.field) {
				t.Fatalf("got fields %v, want %s", fields, tt.field)
			}
		})
	}
	list, err := cs.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("after refused creates: %v, %d services, want only kubernetes", err, len(list.Items))
	}
	headless := svc("headless", func(s *corev1.Service) {
		s.Spec.ClusterIP = corev1.ClusterIPNone
		s.Spec.Selector = nil
		s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
	})
	if _, err := cs.CoreV1().Services("default").Create(ctx, headless, metav1.CreateOptions{}); err != nil {
		t.Fatalf("headless selectorless dual-stack Service: %v", err)
	}
}

// TestEphemeralContainersOnCreate: a Pod may not be created with
// ephemeral containers (upstream's ValidatePodCreate).
func TestEphemeralContainersOnCreate(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "e"},
		Spec: corev1.PodSpec{
			Containers:          []corev1.Container{{Name: "c", Image: "busybox"}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}},
		},
	}
	_, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !slices.Contains(causeFields(err.(apierrors.APIStatus).Status()), "spec.ephemeralContainers") {
		t.Fatalf("got %v, want 422 on spec.ephemeralContainers", err)
	}
}

// TestScaleOfNewKinds: StatefulSets and ReplicationControllers have the
// scale subresource, read and written like Deployments'.
func TestScaleOfNewKinds(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
	}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: template},
	}
	if _, err := cs.AppsV1().StatefulSets("default").Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sc, err := cs.AppsV1().StatefulSets("default").GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil || sc.Spec.Replicas != 2 || sc.Status.Selector != "app=web" {
		t.Fatalf("statefulset scale: %v %+v", err, sc)
	}
	sc.Spec.Replicas = 5
	if _, err := cs.AppsV1().StatefulSets("default").UpdateScale(ctx, "web", sc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := cs.AppsV1().StatefulSets("default").Get(ctx, "web", metav1.GetOptions{})
	if *got.Spec.Replicas != 5 || got.Generation != 2 {
		t.Fatalf("after scale: replicas %d generation %d, want 5 and 2", *got.Spec.Replicas, got.Generation)
	}
	rc := &corev1.ReplicationController{
		ObjectMeta: metav1.ObjectMeta{Name: "old"},
		Spec:       corev1.ReplicationControllerSpec{Replicas: ptr.To(int32(1)), Selector: labels, Template: &template},
	}
	if _, err := cs.CoreV1().ReplicationControllers("default").Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"spec":{"replicas":3}}`)
	if _, err := cs.CoreV1().ReplicationControllers("default").Patch(ctx, "old", types.MergePatchType, patch, metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatalf("rc scale patch: %v", err)
	}
	rcScale, err := cs.CoreV1().ReplicationControllers("default").GetScale(ctx, "old", metav1.GetOptions{})
	if err != nil || rcScale.Spec.Replicas != 3 || rcScale.Status.Selector != "app=web" {
		t.Fatalf("rc scale: %v %+v", err, rcScale)
	}
}

// TestStatusWritesKeepMetadataAsUpstream: a Deployment's status write
// takes annotations (the revision the deployment controller records) and
// keeps labels; a Service's status write takes its metadata.
func TestStatusWritesKeepMetadataAsUpstream(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}},
	}
	d, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Annotations = map[string]string{"deployment.kubernetes.io/revision": "1"}
	d.Labels = map[string]string{"app": "changed"}
	d.Status.ObservedGeneration = d.Generation
	got, err := cs.AppsV1().Deployments("default").UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Annotations["deployment.kubernetes.io/revision"] != "1" || got.Labels["app"] != "web" || got.Status.ObservedGeneration != 1 {
		t.Fatalf("deployment status write: annotations %v labels %v status %+v", got.Annotations, got.Labels, got.Status)
	}
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Annotations = map[string]string{"patched": "status"}
	got2, err := cs.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	if err != nil || got2.Annotations["patched"] != "status" {
		t.Fatalf("service status write: %v, annotations %v", err, got2.Annotations)
	}
}

// TestLimitRangerAdmission: a namespace's LimitRange defaults the
// resources of new pods' containers and refuses a pod over its max, with
// upstream's LimitRanger plugin and its words.
func TestLimitRangerAdmission(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	lr := &corev1.LimitRange{
		ObjectMeta: metav1.ObjectMeta{Name: "limits"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			Default:        corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
			DefaultRequest: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			Max:            corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")},
		}}},
	}
	if _, err := cs.CoreV1().LimitRanges("default").Create(ctx, lr, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := func(name, cpuLimit string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		if cpuLimit != "" {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuLimit)}
		}
		return p
	}
	// The informer of LimitRanges may lag the create by a moment.
	var got *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		_ = cs.CoreV1().Pods("default").Delete(ctx, "plain", metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		p, err := cs.CoreV1().Pods("default").Create(ctx, pod("plain", ""), metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		got = p
		return p.Spec.Containers[0].Resources.Limits.Cpu().String() == "500m", nil
	})
	if err != nil {
		t.Fatalf("defaults not applied: %v; resources %+v", err, got.Spec.Containers[0].Resources)
	}
	res := got.Spec.Containers[0].Resources
	if res.Requests.Cpu().String() != "100m" || res.Limits.Memory().String() != "128Mi" || res.Requests.Memory().String() != "128Mi" {
		t.Errorf("got resources %+v, want limits 500m/128Mi and requests 100m/128Mi", res)
	}
	if got.Annotations["kubernetes.io/limit-ranger"] == "" {
		t.Errorf("no kubernetes.io/limit-ranger annotation: %v", got.Annotations)
	}
	_, err = cs.CoreV1().Pods("default").Create(ctx, pod("big", "2"), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "maximum cpu usage per Container is 1, but limit is 2") {
		t.Fatalf("pod over max: got %v, want 403 from the LimitRanger", err)
	}
}
