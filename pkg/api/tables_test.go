package api

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

var tableNow = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

// fixClock makes ages deterministic for one test.
func fixClock(t *testing.T) {
	t.Helper()
	saved := now
	now = func() time.Time { return tableNow }
	t.Cleanup(func() { now = saved })
}

func ago(d time.Duration) metav1.Time { return metav1.NewTime(tableNow.Add(-d)) }

// row renders obj through its resource's table and returns the one row's
// cells.
func row(t *testing.T, obj runtime.Object) []interface{} {
	t.Helper()
	tbl, err := resourceFor(t, obj).Strategy.Table([]runtime.Object{obj}, TableOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.Rows) != 1 {
		t.Fatalf("got %d rows", len(tbl.Rows))
	}
	if len(tbl.Rows[0].Cells) != len(tbl.ColumnDefinitions) {
		t.Fatalf("%d cells for %d columns", len(tbl.Rows[0].Cells), len(tbl.ColumnDefinitions))
	}
	if tbl.Rows[0].Object.Object != obj {
		t.Errorf("row object is %v, want the object itself", tbl.Rows[0].Object.Object)
	}
	return tbl.Rows[0].Cells
}

func TestColumns(t *testing.T) {
	want := map[string][]string{
		"pods":           {"Name", "Ready", "Status", "Restarts", "Age", "IP*", "Node*", "Nominated Node*", "Readiness Gates*"},
		"deployments":    {"Name", "Ready", "Up-to-date", "Available", "Age", "Containers*", "Images*", "Selector*"},
		"replicasets":    {"Name", "Desired", "Current", "Ready", "Age", "Containers*", "Images*", "Selector*"},
		"services":       {"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age", "Selector*"},
		"nodes":          {"Name", "Status", "Roles", "Age", "Version", "Internal-IP*", "External-IP*", "OS-Image*", "Kernel-Version*", "Container-Runtime*"},
		"endpoints":      {"Name", "Endpoints", "Age"},
		"endpointslices": {"Name", "AddressType", "Ports", "Endpoints", "Age"},
		"namespaces":     {"Name", "Status", "Age"},
		"events":         {"Last Seen", "Type", "Reason", "Object", "Subobject*", "Source*", "Message", "First Seen*", "Count*", "Name*"},
		"leases":         {"Name", "Holder", "Age"},
	}
	for plural, cols := range want {
		t.Run(plural, func(t *testing.T) {
			tbl, err := lookupPlural(t, plural).Strategy.Table(nil, TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range tbl.ColumnDefinitions {
				name := c.Name
				if c.Priority == 1 {
					name += "*"
				}
				if c.Type == "" || c.Description == "" {
					t.Errorf("column %s lacks type or description", c.Name)
				}
				got = append(got, name)
			}
			if diff := cmp.Diff(cols, got); diff != "" {
				t.Errorf("columns (-want +got, * = priority 1):\n%s", diff)
			}
			if len(tbl.Rows) != 0 {
				t.Errorf("rows for no objects: %v", tbl.Rows)
			}
		})
	}
}

func TestNoHeaders(t *testing.T) {
	tbl, err := podStrategy.Table([]runtime.Object{defaultedPod(nil)}, TableOptions{NoHeaders: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(tbl.ColumnDefinitions) != 0 || len(tbl.Rows) != 1 {
		t.Errorf("got %d columns, %d rows", len(tbl.ColumnDefinitions), len(tbl.Rows))
	}
}

func TestTableRejectsOtherKinds(t *testing.T) {
	if _, err := podStrategy.Table([]runtime.Object{&corev1.Node{}}, TableOptions{}); err == nil {
		t.Error("pod table accepted a node")
	}
}

func TestPodStatusCell(t *testing.T) {
	fixClock(t)
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	ready := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Ready: true, State: running}
	}
	readyCond := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	deleting := ago(time.Second)
	tests := []struct {
		name                   string
		mutate                 func(*corev1.Pod)
		ready, status, restart string
	}{
		{name: "pending", mutate: func(p *corev1.Pod) { p.Status.Phase = corev1.PodPending }, ready: "0/1", status: "Pending", restart: "0"},
		{name: "running and ready", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{ready("app")}
		}, ready: "1/1", status: "Running", restart: "0"},
		{name: "image pull back-off", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}
		}, ready: "0/1", status: "ImagePullBackOff", restart: "0"},
		{name: "crash loop with restarts", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{
				Name: "app", RestartCount: 4,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(90 * time.Second)}},
			}}
		}, ready: "0/1", status: "CrashLoopBackOff", restart: "4 (90s ago)"},
		{name: "completed", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodSucceeded
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}, ready: "0/1", status: "Completed", restart: "0"},
		{name: "terminated without reason, by signal", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9, ExitCode: 137}}}}
		}, ready: "0/1", status: "Signal:9", restart: "0"},
		{name: "terminated without reason, exit code", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2}}}}
		}, ready: "0/1", status: "ExitCode:2", restart: "0"},
		{name: "one completed, one still running and ready", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "job", Image: "x"})
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{readyCond}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{ready("app"), {Name: "job", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}, ready: "1/2", status: "Running", restart: "0"},
		{name: "one completed, one running, pod not ready", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "job", Image: "x"})
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{ready("app"), {Name: "job", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}}}
		}, ready: "1/2", status: "NotReady", restart: "0"},
		{name: "init container running", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a", Image: "x"}, {Name: "b", Image: "x"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{
				{Name: "a", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "b", State: running},
			}
		}, ready: "0/1", status: "Init:1/2", restart: "0"},
		{name: "init container failed", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a", Image: "x"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "a", RestartCount: 2, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3}}}}
		}, ready: "0/1", status: "Init:ExitCode:3", restart: "2"},
		{name: "init container crash looping", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "a", Image: "x"}}
			p.Status.Phase = corev1.PodPending
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "a", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
		}, ready: "0/1", status: "Init:CrashLoopBackOff", restart: "0"},
		{name: "sidecar counts as a container", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: "x", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, readyCond}
			p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "proxy", Ready: true, Started: ptr.To(true), State: running}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{ready("app")}
		}, ready: "2/2", status: "Running", restart: "0"},
		{name: "evicted", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodFailed
			p.Status.Reason = "Evicted"
		}, ready: "0/1", status: "Evicted", restart: "0"},
		{name: "terminating", mutate: func(p *corev1.Pod) {
			p.DeletionTimestamp = &deleting
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{ready("app")}
		}, ready: "1/1", status: "Terminating", restart: "0"},
		{name: "terminating but already finished", mutate: func(p *corev1.Pod) {
			p.DeletionTimestamp = &deleting
			p.Status.Phase = corev1.PodSucceeded
		}, ready: "0/1", status: "Succeeded", restart: "0"},
		{name: "node lost", mutate: func(p *corev1.Pod) {
			p.DeletionTimestamp = &deleting
			p.Status.Phase = corev1.PodRunning
			p.Status.Reason = "NodeLost"
		}, ready: "0/1", status: "Unknown", restart: "0"},
		{name: "scheduling gated", mutate: func(p *corev1.Pod) {
			p.Status.Phase = corev1.PodPending
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}
		}, ready: "0/1", status: "SchedulingGated", restart: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := defaultedPod(tt.mutate)
			pod.CreationTimestamp = ago(5*time.Minute + 3*time.Second)
			cells := row(t, pod)
			got := []interface{}{cells[1], cells[2], cells[3], cells[4]}
			want := []interface{}{tt.ready, tt.status, tt.restart, "5m3s"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("READY STATUS RESTARTS AGE (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodWideCells(t *testing.T) {
	fixClock(t)
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.NodeName = "node1"
		p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
		p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}
	})
	cells := row(t, pod)
	if diff := cmp.Diff([]interface{}{"10.244.1.5", "node1", "<none>", "1/2"}, cells[5:]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	bare := row(t, defaultedPod(nil))
	if diff := cmp.Diff([]interface{}{"<none>", "<none>", "<none>", "<none>"}, bare[5:]); diff != "" {
		t.Errorf("unscheduled pod (-want +got):\n%s", diff)
	}

	done := defaultedPod(nil)
	done.Status.Phase = corev1.PodSucceeded
	tbl, _ := podStrategy.Table([]runtime.Object{done}, TableOptions{})
	if c := tbl.Rows[0].Conditions; len(c) != 1 || c[0].Type != metav1.RowCompleted {
		t.Errorf("succeeded pod row conditions = %v, want Completed", c)
	}
}

func TestServiceCells(t *testing.T) {
	fixClock(t)
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []interface{}
	}{
		{name: "cluster ip", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
		}, want: []interface{}{"web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP", "3d", "app=web"}},
		{name: "headless without ports", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "None", []string{"None"}
			s.Spec.Ports = nil
			s.Spec.Selector = nil
		}, want: []interface{}{"web", "ClusterIP", "None", "<none>", "<none>", "3d", "<none>"}},
		{name: "node port", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
			s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 31234}, {Name: "dns", Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}}
		}, want: []interface{}{"web", "NodePort", "10.96.0.11", "<none>", "80:31234/TCP,53:30053/UDP", "3d", "app=web"}},
		{name: "load balancer pending", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.12", []string{"10.96.0.12"}
			s.Spec.Ports[0].NodePort = 30080
		}, want: []interface{}{"web", "LoadBalancer", "10.96.0.12", "<pending>", "80:30080/TCP", "3d", "app=web"}},
		{name: "load balancer with ingress and external ip", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.12", []string{"10.96.0.12"}
			s.Spec.ExternalIPs = []string{"192.0.2.1"}
			s.Spec.Ports[0].NodePort = 30080
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.200.0.201"}, {IP: "10.200.0.200"}}
		}, want: []interface{}{"web", "LoadBalancer", "10.96.0.12", "10.200.0.200,10.200.0.201,192.0.2.1", "80:30080/TCP", "3d", "app=web"}},
		{name: "cluster ip with external ip", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
			s.Spec.ExternalIPs = []string{"192.0.2.1", "192.0.2.2"}
		}, want: []interface{}{"web", "ClusterIP", "10.96.0.10", "192.0.2.1,192.0.2.2", "80/TCP", "3d", "app=web"}},
		{name: "external name", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
		}, want: []interface{}{"web", "ExternalName", "<none>", "db.example.com", "<none>", "3d", "<none>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService()
			tt.mutate(s)
			serviceStrategy.Default(s)
			s.CreationTimestamp = ago(72 * time.Hour)
			if diff := cmp.Diff(tt.want, row(t, s)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeCells(t *testing.T) {
	fixClock(t)
	readyCond := func(s corev1.ConditionStatus) []corev1.NodeCondition {
		return []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: s}}
	}
	tests := []struct {
		name          string
		mutate        func(*corev1.Node)
		status, roles string
	}{
		{name: "ready", mutate: func(n *corev1.Node) { n.Status.Conditions = readyCond(corev1.ConditionTrue) }, status: "Ready", roles: "<none>"},
		{name: "not ready", mutate: func(n *corev1.Node) { n.Status.Conditions = readyCond(corev1.ConditionFalse) }, status: "NotReady", roles: "<none>"},
		{name: "unknown ready is NotReady", mutate: func(n *corev1.Node) { n.Status.Conditions = readyCond(corev1.ConditionUnknown) }, status: "NotReady", roles: "<none>"},
		{name: "no ready condition", mutate: func(*corev1.Node) {}, status: "Unknown", roles: "<none>"},
		{name: "cordoned", mutate: func(n *corev1.Node) {
			n.Status.Conditions = readyCond(corev1.ConditionTrue)
			n.Spec.Unschedulable = true
		}, status: "Ready,SchedulingDisabled", roles: "<none>"},
		{name: "roles", mutate: func(n *corev1.Node) {
			n.Labels = map[string]string{"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "edge", "node-role.kubernetes.io/": ""}
		}, status: "Unknown", roles: "control-plane,edge,worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1", CreationTimestamp: ago(2 * time.Hour)}}
			n.Status.NodeInfo.KubeletVersion = "v1.37.2-minik8s"
			tt.mutate(n)
			cells := row(t, n)
			want := []interface{}{"node1", tt.status, tt.roles, "120m", "v1.37.2-minik8s", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}
			if diff := cmp.Diff(want, cells); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node2"}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "node2"}, {Type: corev1.NodeInternalIP, Address: "10.200.0.12"}}
	n.Status.NodeInfo = corev1.NodeSystemInfo{OSImage: "Debian GNU/Linux 12", KernelVersion: "6.1.0", ContainerRuntimeVersion: "containerd://1.6.20"}
	cells := row(t, n)
	if diff := cmp.Diff([]interface{}{"10.200.0.12", "<none>", "Debian GNU/Linux 12", "6.1.0", "containerd://1.6.20"}, cells[5:]); diff != "" {
		t.Errorf("wide cells (-want +got):\n%s", diff)
	}
}

func TestWorkloadCells(t *testing.T) {
	fixClock(t)
	d := newDeployment()
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "side", Image: "minik8s/toolbox"})
	deploymentStrategy.Default(d)
	d.Spec.Replicas = ptr.To(int32(3))
	d.CreationTimestamp = ago(10 * time.Second)
	d.Status = appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}
	want := []interface{}{"web", "2/3", int64(3), int64(2), "10s", "app,side", "minik8s/echo:1.0,minik8s/toolbox", "app=web"}
	if diff := cmp.Diff(want, row(t, d)); diff != "" {
		t.Errorf("deployment (-want +got):\n%s", diff)
	}

	rs := newReplicaSet()
	replicaSetStrategy.Default(rs)
	rs.Name = "web-5d8f"
	rs.Spec.Selector.MatchLabels["pod-template-hash"] = "5d8f"
	rs.CreationTimestamp = ago(10 * time.Second)
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 1, ReadyReplicas: 0}
	want = []interface{}{"web-5d8f", int64(1), int64(1), int64(0), "10s", "app", "minik8s/echo:1.0", "app=web,pod-template-hash=5d8f"}
	if diff := cmp.Diff(want, row(t, rs)); diff != "" {
		t.Errorf("replicaset (-want +got):\n%s", diff)
	}
}

func TestEndpointsCells(t *testing.T) {
	fixClock(t)
	addrs := func(ips ...string) []corev1.EndpointAddress {
		var out []corev1.EndpointAddress
		for _, ip := range ips {
			out = append(out, corev1.EndpointAddress{IP: ip})
		}
		return out
	}
	tests := []struct {
		name    string
		subsets []corev1.EndpointSubset
		want    string
	}{
		{"none", nil, "<none>"},
		{"two", []corev1.EndpointSubset{{Addresses: addrs("10.244.1.5", "10.244.2.5"), Ports: []corev1.EndpointPort{{Port: 8080}}}}, "10.244.1.5:8080,10.244.2.5:8080"},
		{"more than three", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), Ports: []corev1.EndpointPort{{Port: 80}}}},
			"10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 2 more..."},
		{"headless without ports", []corev1.EndpointSubset{{Addresses: addrs("10.0.0.1")}}, "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Minute)}, Subsets: tt.subsets}
			if diff := cmp.Diff([]interface{}{"web", tt.want, "60s"}, row(t, ep)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-x", CreationTimestamp: ago(time.Minute)},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Port: ptr.To(int32(8080))}, {Name: ptr.To("metrics")}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}}, {Addresses: []string{"10.244.2.5"}}},
	}
	if diff := cmp.Diff([]interface{}{"web-x", "IPv4", "8080,metrics", "10.244.1.5,10.244.2.5", "60s"}, row(t, es)); diff != "" {
		t.Errorf("slice (-want +got):\n%s", diff)
	}
	empty := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "e"}, AddressType: discoveryv1.AddressTypeIPv4}
	if diff := cmp.Diff([]interface{}{"e", "IPv4", "<unset>", "<unset>", "<unknown>"}, row(t, empty)); diff != "" {
		t.Errorf("empty slice (-want +got):\n%s", diff)
	}
}

func TestEventNamespaceLeaseCells(t *testing.T) {
	fixClock(t)
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web.17a", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web", FieldPath: "spec.containers{app}"},
		Type:           corev1.EventTypeWarning, Reason: "BackOff", Message: "Back-off restarting failed container\n",
		Source:         corev1.EventSource{Component: "kubelet", Host: "node1"},
		FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(30 * time.Second), Count: 7,
	}
	want := []interface{}{"30s", "Warning", "BackOff", "pod/web", "spec.containers{app}", "kubelet, node1", "Back-off restarting failed container", "10m", int64(7), "web.17a"}
	if diff := cmp.Diff(want, row(t, ev)); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	// A new-style event: eventTime, reporting controller, no count.
	ev2 := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "n.1"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Node"},
		EventTime:           metav1.NewMicroTime(tableNow.Add(-5 * time.Second)),
		ReportingController: "minik8s.io/node-controller",
	}
	want = []interface{}{"5s", "", "", "node", "", "minik8s.io/node-controller", "", "5s", int64(1), "n.1"}
	if diff := cmp.Diff(want, row(t, ev2)); diff != "" {
		t.Errorf("new-style event (-want +got):\n%s", diff)
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", CreationTimestamp: ago(49 * time.Hour)}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}}
	if diff := cmp.Diff([]interface{}{"default", "Active", "2d1h"}, row(t, ns)); diff != "" {
		t.Errorf("namespace (-want +got):\n%s", diff)
	}
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node1", CreationTimestamp: ago(3 * time.Second)}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("node1")}}
	if diff := cmp.Diff([]interface{}{"node1", "node1", "3s"}, row(t, l)); diff != "" {
		t.Errorf("lease (-want +got):\n%s", diff)
	}
}
