package apiserver

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	"github.com/gin-gonic/gin"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// The resource metrics API (metrics.k8s.io/v1beta1) is what
// metrics-server serves behind kube-apiserver's aggregator; here the
// apiserver serves it itself, from the same source: every Ready node's
// kubelet /metrics/resource, scraped every --metric-resolution, CPU
// usage as the rate between a node's last two samples. kubectl top and
// the HorizontalPodAutoscaler controller read it.

func init() {
	utilruntime.Must(metricsv1beta1.AddToScheme(api.Scheme))
}

// DefaultMetricResolution is metrics-server's default scrape interval.
const DefaultMetricResolution = 15 * time.Second

// metricsResources are the resource metrics API's kinds, as
// metrics-server lists them in discovery: get and list only.
var metricsResources = []*api.Resource{
	{
		Group: metricsv1beta1.GroupName, Version: "v1beta1", Kind: "NodeMetrics", ListKind: "NodeMetricsList",
		Plural: "nodes", Verbs: []string{"get", "list"},
		New:      func() runtime.Object { return &metricsv1beta1.NodeMetrics{} },
		NewList:  func() runtime.Object { return &metricsv1beta1.NodeMetricsList{} },
		Strategy: metricsTable{},
	},
	{
		Group: metricsv1beta1.GroupName, Version: "v1beta1", Kind: "PodMetrics", ListKind: "PodMetricsList",
		Plural: "pods", Namespaced: true, Verbs: []string{"get", "list"},
		New:      func() runtime.Object { return &metricsv1beta1.PodMetrics{} },
		NewList:  func() runtime.Object { return &metricsv1beta1.PodMetricsList{} },
		Strategy: metricsTable{},
	},
}

// discoverable is what discovery lists: the table's resources and the
// resource metrics API's.
func (s *Server) discoverable() []*api.Resource {
	return append(slices.Clone(s.table().Resources()), metricsResources...)
}

// metricsTable is the metrics kinds' only use of a strategy: their
// server-side table, with metrics-server's columns. Nothing writes them,
// so the write methods are never called.
type metricsTable struct{ api.Strategy }

func (metricsTable) Table(objs []runtime.Object, opts api.TableOptions) (*metav1.Table, error) {
	t := &metav1.Table{}
	if !opts.NoHeaders {
		t.ColumnDefinitions = []metav1.TableColumnDefinition{
			{Name: "Name", Type: "string", Format: "name", Description: "Name of the resource"},
			{Name: "CPU", Type: "string", Description: "CPU usage"},
			{Name: "Memory", Type: "string", Description: "Memory usage"},
			{Name: "Window", Type: "string", Description: "Interval the usage is measured over"},
		}
	}
	for _, obj := range objs {
		var name string
		var usage corev1.ResourceList
		var window time.Duration
		switch m := obj.(type) {
		case *metricsv1beta1.NodeMetrics:
			name, usage, window = m.Name, m.Usage, m.Window.Duration
		case *metricsv1beta1.PodMetrics:
			name, window = m.Name, m.Window.Duration
			usage = corev1.ResourceList{}
			for _, c := range m.Containers {
				for k, v := range c.Usage {
					sum := usage[k]
					sum.Add(v)
					usage[k] = sum
				}
			}
		default:
			return nil, fmt.Errorf("not a metrics object: %T", obj)
		}
		cpu, mem := usage[corev1.ResourceCPU], usage[corev1.ResourceMemory]
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{name, cpu.String(), mem.String(), duration.HumanDuration(window)}})
	}
	return t, nil
}

// usagePoint is one reading of a node or container: cumulative CPU
// seconds and the memory working set, at ts.
type usagePoint struct {
	cpu float64
	mem float64
	ts  time.Time
}

// series is the last two readings of one node or container: enough for a
// CPU rate.
type series struct{ prev, last usagePoint }

// add keeps p as the last reading. A counter that went back (the
// container restarted) starts the series over.
func (s *series) add(p usagePoint) {
	switch {
	case s.last.ts.IsZero() || p.cpu < s.last.cpu:
		s.prev, s.last = usagePoint{}, p
	case p.ts.After(s.last.ts):
		s.prev, s.last = s.last, p
	}
}

// usage is the CPU rate over the last two readings and the last working
// set; ok is false until there are two.
func (s *series) usage() (cpu, mem resource.Quantity, window time.Duration, ok bool) {
	if s.prev.ts.IsZero() {
		return cpu, mem, 0, false
	}
	window = s.last.ts.Sub(s.prev.ts)
	nanocores := (s.last.cpu - s.prev.cpu) / window.Seconds() * 1e9
	return *resource.NewScaledQuantity(int64(math.Round(nanocores)), resource.Nano), *resource.NewQuantity(int64(s.last.mem), resource.BinarySI), window, true
}

// containerKey names a container of a pod.
type containerKey struct{ ns, pod, container string }

// nodeSeries is what a node's scrapes left: the node's series and its
// running containers'.
type nodeSeries struct {
	node       series
	containers map[containerKey]*series
}

// resourceMetrics scrapes the agents and answers the metrics API from the
// last two scrapes of each.
type resourceMetrics struct {
	resolution time.Duration
	// nodes lists the nodes to scrape; fetch reads one's
	// /metrics/resource.
	nodes func(ctx context.Context) ([]*corev1.Node, error)
	fetch func(ctx context.Context, node *corev1.Node) (io.ReadCloser, error)

	mu     sync.RWMutex
	byNode map[string]*nodeSeries
}

func (s *Server) newResourceMetrics() *resourceMetrics {
	return &resourceMetrics{
		resolution: s.cfg.MetricResolution,
		nodes: func(ctx context.Context) ([]*corev1.Node, error) {
			res, err := s.store.List(ctx, storage.Prefix("nodes", ""), func() runtime.Object { return &corev1.Node{} }, storage.ListOptions{})
			if err != nil {
				return nil, err
			}
			var out []*corev1.Node
			for _, o := range res.Items {
				out = append(out, o.(*corev1.Node))
			}
			return out, nil
		},
		fetch:  s.fetchResourceMetrics,
		byNode: map[string]*nodeSeries{},
	}
}

// kubeletURL is node's kubelet API address with path.
func (s *Server) kubeletURL(node *corev1.Node, path string) (*url.URL, error) {
	host := ""
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			host = a.Address
			break
		}
	}
	if host == "" {
		return nil, fmt.Errorf("node %s has no InternalIP address", node.Name)
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port == 0 {
		port = 10250
	}
	scheme := "http"
	if s.kubeletTLS {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(int(port))), Path: path}, nil
}

// fetchResourceMetrics reads node's /metrics/resource with the
// apiserver's kubelet client credentials, as logs and exec reach the
// agents (which authorize the request on nodes/metrics).
func (s *Server) fetchResourceMetrics(ctx context.Context, node *corev1.Node) (io.ReadCloser, error) {
	u, err := s.kubeletURL(node, "/metrics/resource")
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.kubeletTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s: %s", u, resp.Status, b)
	}
	return resp.Body, nil
}

// run scrapes every resolution until ctx ends.
func (m *resourceMetrics) run(ctx context.Context) {
	t := time.NewTicker(m.resolution)
	defer t.Stop()
	for {
		m.scrape(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// scrape reads every Ready node once, in parallel, each within the
// resolution. A node that is not Ready or fails is dropped, as
// metrics-server drops it: its metrics come back two scrapes after it
// answers again.
func (m *resourceMetrics) scrape(ctx context.Context) {
	nodes, err := m.nodes(ctx)
	if err != nil {
		klog.FromContext(ctx).Error(err, "listing the nodes to scrape")
		return
	}
	type result struct {
		name       string
		node       usagePoint
		containers map[containerKey]usagePoint
	}
	results := make(chan result, len(nodes))
	var wg sync.WaitGroup
	for _, n := range nodes {
		if !nodeReady(n) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, m.resolution)
			defer cancel()
			body, err := m.fetch(sctx, n)
			if err != nil {
				klog.FromContext(ctx).V(2).Info("scraping resource metrics", "node", n.Name, "err", err)
				return
			}
			defer body.Close()
			node, containers, err := parseResourceMetrics(body, time.Now())
			if err != nil {
				klog.FromContext(ctx).V(2).Info("reading resource metrics", "node", n.Name, "err", err)
				return
			}
			results <- result{n.Name, node, containers}
		}()
	}
	wg.Wait()
	close(results)
	m.mu.Lock()
	defer m.mu.Unlock()
	seen := map[string]bool{}
	for r := range results {
		seen[r.name] = true
		ns := m.byNode[r.name]
		if ns == nil {
			ns = &nodeSeries{containers: map[containerKey]*series{}}
			m.byNode[r.name] = ns
		}
		ns.node.add(r.node)
		for k := range ns.containers {
			if _, ok := r.containers[k]; !ok {
				delete(ns.containers, k)
			}
		}
		for k, p := range r.containers {
			s := ns.containers[k]
			if s == nil {
				s = &series{}
				ns.containers[k] = s
			}
			s.add(p)
		}
	}
	for name := range m.byNode {
		if !seen[name] {
			delete(m.byNode, name)
		}
	}
}

// parseResourceMetrics reads a /metrics/resource page: the node's reading
// and each container's that has both CPU and memory. Samples without a
// timestamp are taken at now.
func parseResourceMetrics(r io.Reader, now time.Time) (usagePoint, map[containerKey]usagePoint, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return usagePoint{}, nil, err
	}
	at := func(m *dto.Metric) time.Time {
		if m.TimestampMs != nil {
			return time.UnixMilli(m.GetTimestampMs())
		}
		return now
	}
	var node usagePoint
	var haveCPU, haveMem bool
	if f := families["node_cpu_usage_seconds_total"]; f != nil && len(f.Metric) > 0 {
		node.cpu, node.ts, haveCPU = sampleValue(f.Metric[0]), at(f.Metric[0]), true
	}
	if f := families["node_memory_working_set_bytes"]; f != nil && len(f.Metric) > 0 {
		node.mem, haveMem = sampleValue(f.Metric[0]), true
	}
	if !haveCPU || !haveMem {
		return usagePoint{}, nil, fmt.Errorf("no node_cpu_usage_seconds_total or node_memory_working_set_bytes")
	}
	key := func(m *dto.Metric) containerKey {
		var k containerKey
		for _, l := range m.Label {
			switch l.GetName() {
			case "namespace":
				k.ns = l.GetValue()
			case "pod":
				k.pod = l.GetValue()
			case "container":
				k.container = l.GetValue()
			}
		}
		return k
	}
	cpu := map[containerKey]usagePoint{}
	if f := families["container_cpu_usage_seconds_total"]; f != nil {
		for _, m := range f.Metric {
			cpu[key(m)] = usagePoint{cpu: sampleValue(m), ts: at(m)}
		}
	}
	containers := map[containerKey]usagePoint{}
	if f := families["container_memory_working_set_bytes"]; f != nil {
		for _, m := range f.Metric {
			k := key(m)
			if p, ok := cpu[k]; ok {
				p.mem = sampleValue(m)
				containers[k] = p
			}
		}
	}
	return node, containers, nil
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// nodeMetrics is node's NodeMetrics; nil until two scrapes read it.
func (m *resourceMetrics) nodeMetrics(node *corev1.Node, now time.Time) *metricsv1beta1.NodeMetrics {
	m.mu.RLock()
	defer m.mu.RUnlock()
	ns := m.byNode[node.Name]
	if ns == nil {
		return nil
	}
	cpu, mem, window, ok := ns.node.usage()
	if !ok {
		return nil
	}
	return &metricsv1beta1.NodeMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: metricsv1beta1.SchemeGroupVersion.String(), Kind: "NodeMetrics"},
		ObjectMeta: metav1.ObjectMeta{Name: node.Name, Labels: node.Labels, CreationTimestamp: metav1.NewTime(now)},
		Timestamp:  metav1.NewTime(ns.node.last.ts),
		Window:     metav1.Duration{Duration: window},
		Usage:      corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem},
	}
}

// podMetrics is pod's PodMetrics: every running container of it, once
// each has two readings (metrics-server leaves out a pod with a container
// it cannot rate yet); nil otherwise.
func (m *resourceMetrics) podMetrics(pod *corev1.Pod, now time.Time) *metricsv1beta1.PodMetrics {
	if pod.Spec.NodeName == "" {
		return nil
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	ns := m.byNode[pod.Spec.NodeName]
	if ns == nil {
		return nil
	}
	out := &metricsv1beta1.PodMetrics{
		TypeMeta:   metav1.TypeMeta{APIVersion: metricsv1beta1.SchemeGroupVersion.String(), Kind: "PodMetrics"},
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels, CreationTimestamp: metav1.NewTime(now)},
	}
	for _, c := range pod.Spec.Containers {
		s := ns.containers[containerKey{pod.Namespace, pod.Name, c.Name}]
		if s == nil {
			continue
		}
		cpu, mem, window, ok := s.usage()
		if !ok {
			return nil
		}
		if s.last.ts.After(out.Timestamp.Time) {
			out.Timestamp, out.Window = metav1.NewTime(s.last.ts), metav1.Duration{Duration: window}
		}
		out.Containers = append(out.Containers, metricsv1beta1.ContainerMetrics{
			Name:  c.Name,
			Usage: corev1.ResourceList{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem},
		})
	}
	if len(out.Containers) == 0 {
		return nil
	}
	return out
}

// serveResourceMetrics answers a request of metrics.k8s.io: get and list
// of nodes and (namespaced) pods, with label and field selectors (of
// metadata.name and metadata.namespace), as metrics-server does.
func (s *Server) serveResourceMetrics(c *gin.Context, info *request.RequestInfo) {
	var r *api.Resource
	for _, m := range metricsResources {
		if m.Version == info.APIVersion && m.Plural == info.Resource {
			r = m
		}
	}
	if r == nil {
		writeError(c, notFoundPath(c.Request.URL.Path))
		return
	}
	c.Set(ctxVerb, info.Verb)
	c.Set(ctxResource, info.Resource)
	c.Set(ctxSubresource, info.Subresource)
	gr := schema.GroupResource{Group: r.Group, Resource: r.Plural}
	if info.Subresource != "" || (info.Verb != "get" && info.Verb != "list") {
		writeError(c, apierrors.NewMethodNotSupported(gr, info.Verb))
		return
	}
	ls, err := labels.Parse(c.Query("labelSelector"))
	if err != nil {
		writeError(c, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err)))
		return
	}
	fs, err := fields.ParseSelector(c.Query("fieldSelector"))
	if err != nil {
		writeError(c, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err)))
		return
	}
	for _, req := range fs.Requirements() {
		if req.Field != "metadata.name" && (!r.Namespaced || req.Field != "metadata.namespace") {
			writeError(c, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field)))
			return
		}
	}
	ns := ""
	if r.Namespaced {
		ns = info.Namespace
	}
	now := time.Now()
	ctx := c.Request.Context()
	var items []runtime.Object
	if r.Kind == "NodeMetrics" {
		res, err := s.store.List(ctx, storage.Prefix("nodes", ""), func() runtime.Object { return &corev1.Node{} }, storage.ListOptions{})
		if err != nil {
			writeError(c, apierrors.NewInternalError(err))
			return
		}
		for _, o := range res.Items {
			n := o.(*corev1.Node)
			if (info.Name != "" && n.Name != info.Name) || !ls.Matches(labels.Set(n.Labels)) || !fs.Matches(fields.Set{"metadata.name": n.Name}) {
				continue
			}
			if m := s.metrics.nodeMetrics(n, now); m != nil {
				items = append(items, m)
			}
		}
	} else {
		res, err := s.store.List(ctx, storage.Prefix("pods", ns), func() runtime.Object { return &corev1.Pod{} }, storage.ListOptions{})
		if err != nil {
			writeError(c, apierrors.NewInternalError(err))
			return
		}
		for _, o := range res.Items {
			p := o.(*corev1.Pod)
			if (info.Name != "" && p.Name != info.Name) || !ls.Matches(labels.Set(p.Labels)) || !fs.Matches(fields.Set{"metadata.name": p.Name, "metadata.namespace": p.Namespace}) {
				continue
			}
			if m := s.metrics.podMetrics(p, now); m != nil {
				items = append(items, m)
			}
		}
	}
	if info.Verb == "get" {
		if len(items) == 0 {
			name := info.Name
			if r.Namespaced {
				name = ns + "/" + name
			}
			writeError(c, apierrors.NewNotFound(gr, name))
			return
		}
		writeObject(c, http.StatusOK, r, items[0])
		return
	}
	writeList(c, r, items, metav1.ListMeta{})
}

// metricsReaderRole is the ClusterRole metrics-server's manifest installs,
// aggregated into view, edit and admin: whoever may read pods in a
// namespace may read their usage there (kubectl top). The
// HorizontalPodAutoscaler controller's own role already lists
// metrics.k8s.io pods.
func metricsReaderRole() rbacv1.ClusterRole {
	return rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{
			Name: "system:aggregated-metrics-reader",
			Labels: map[string]string{
				"rbac.authorization.k8s.io/aggregate-to-view":  "true",
				"rbac.authorization.k8s.io/aggregate-to-edit":  "true",
				"rbac.authorization.k8s.io/aggregate-to-admin": "true",
			},
		},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{metricsv1beta1.GroupName}, Resources: []string{"pods", "nodes"}}},
	}
}
