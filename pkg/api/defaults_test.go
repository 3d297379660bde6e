package api

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestDefaultPod(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch"}}
	})
	want := corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		InitContainers: []corev1.Container{{
			Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullAlways,
			TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		Containers: []corev1.Container{{
			Name: "app", Image: "minik8s/echo:1.0", ImagePullPolicy: corev1.PullIfNotPresent,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env:   []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			},
			TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptr.To(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 "default-scheduler",
		EnableServiceLinks:            ptr.To(true),
	}
	if diff := cmp.Diff(want, pod.Spec); diff != "" {
		t.Errorf("defaulted pod spec differs (-want +got):\n%s", diff)
	}
}

func TestDefaultKeepsSetValues(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		p.Spec.DNSPolicy = corev1.DNSDefault
		p.Spec.TerminationGracePeriodSeconds = ptr.To(int64(5))
		p.Spec.SchedulerName = "other"
		p.Spec.EnableServiceLinks = ptr.To(false)
		p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
		p.Spec.Containers[0].Ports[0].Protocol = corev1.ProtocolUDP
	})
	s := pod.Spec
	if s.RestartPolicy != corev1.RestartPolicyNever || s.DNSPolicy != corev1.DNSDefault || *s.TerminationGracePeriodSeconds != 5 ||
		s.SchedulerName != "other" || *s.EnableServiceLinks || s.Containers[0].ImagePullPolicy != corev1.PullNever ||
		s.Containers[0].Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("defaulting overwrote set values: %+v", s)
	}
}

func TestImagePullPolicyFromTag(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.25", corev1.PullIfNotPresent},
		{"10.200.0.1:5000/minik8s/echo", corev1.PullAlways},
		{"10.200.0.1:5000/minik8s/echo:v2", corev1.PullIfNotPresent},
		{"localhost:5000/echo:latest", corev1.PullAlways},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			c := corev1.Container{Image: tt.image}
			defaultContainer(&c)
			if c.ImagePullPolicy != tt.want {
				t.Errorf("got %s, want %s", c.ImagePullPolicy, tt.want)
			}
		})
	}
}

func TestDefaultPodRequestsFromLimits(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
		}
	})
	req := pod.Spec.Containers[0].Resources.Requests
	if cpu := req[corev1.ResourceCPU]; cpu.String() != "100m" {
		t.Errorf("cpu request = %s, want the one set (100m)", cpu.String())
	}
	if mem := req[corev1.ResourceMemory]; mem.String() != "64Mi" {
		t.Errorf("memory request = %s, want the limit (64Mi)", mem.String())
	}

	// Templates keep their requests as written.
	d := newDeployment()
	d.Spec.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	deploymentStrategy.Default(d)
	if d.Spec.Template.Spec.Containers[0].Resources.Requests != nil {
		t.Errorf("template requests defaulted: %v", d.Spec.Template.Spec.Containers[0].Resources.Requests)
	}
}

func TestDefaultHostNetworkPorts(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) { p.Spec.HostNetwork = true })
	if got := pod.Spec.Containers[0].Ports[0].HostPort; got != 8080 {
		t.Errorf("hostPort = %d, want containerPort 8080", got)
	}
}

func TestDefaultService(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   corev1.ServiceSpec
	}{{
		name: "cluster ip",
		want: corev1.ServiceSpec{
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       corev1.ServiceAffinityNone,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}, {
		name: "node port keeps named target port",
		mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].TargetPort = intstr.FromString("http")
		},
		want: corev1.ServiceSpec{
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
			Type:                  corev1.ServiceTypeNodePort,
			SessionAffinity:       corev1.ServiceAffinityNone,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}, {
		name: "load balancer with client ip affinity",
		mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		},
		want: corev1.ServiceSpec{
			Selector:                      map[string]string{"app": "web"},
			Ports:                         []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
			Type:                          corev1.ServiceTypeLoadBalancer,
			SessionAffinity:               corev1.ServiceAffinityClientIP,
			SessionAffinityConfig:         &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(10800))}},
			ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyCluster,
			IPFamilies:                    []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:                ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy:         ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
			AllocateLoadBalancerNodePorts: ptr.To(true),
		},
	}, {
		name: "switched back to no affinity: the ClientIP settings dropped",
		mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityNone
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(int32(10800))}}
		},
		want: corev1.ServiceSpec{
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}},
			Type:                  corev1.ServiceTypeClusterIP,
			SessionAffinity:       corev1.ServiceAffinityNone,
			IPFamilies:            []corev1.IPFamily{corev1.IPv4Protocol},
			IPFamilyPolicy:        ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
		},
	}, {
		name: "external name",
		mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}
		},
		want: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeExternalName,
			ExternalName:    "db.example.com",
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			serviceStrategy.Default(s)
			if diff := cmp.Diff(tt.want, s.Spec); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultDeployment(t *testing.T) {
	d := newDeployment()
	deploymentStrategy.Default(d)
	want := appsv1.DeploymentSpec{
		Replicas: ptr.To(int32(1)),
		Strategy: appsv1.DeploymentStrategy{
			Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxUnavailable: ptr.To(intstr.FromString("25%")),
				MaxSurge:       ptr.To(intstr.FromString("25%")),
			},
		},
		RevisionHistoryLimit:    ptr.To(int32(10)),
		ProgressDeadlineSeconds: ptr.To(int32(600)),
	}
	got := d.Spec
	got.Selector, got.Template = nil, corev1.PodTemplateSpec{}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	ps := d.Spec.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyAlways || ps.DNSPolicy != corev1.DNSClusterFirst || ps.SchedulerName != "default-scheduler" ||
		ps.Containers[0].TerminationMessagePath != "/dev/termination-log" || ps.Containers[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("template not defaulted: %+v", ps)
	}
	if ps.EnableServiceLinks != nil {
		t.Errorf("enableServiceLinks is a Pod default, not a template one; got %v", *ps.EnableServiceLinks)
	}

	// Recreate gets no rolling update parameters.
	r := newDeployment()
	r.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	deploymentStrategy.Default(r)
	if r.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate got rollingUpdate %+v", r.Spec.Strategy.RollingUpdate)
	}
}

func TestDefaultReplicaSet(t *testing.T) {
	rs := newReplicaSet()
	replicaSetStrategy.Default(rs)
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas != 1 {
		t.Errorf("replicas = %v, want 1", rs.Spec.Replicas)
	}
	if rs.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		t.Errorf("template restartPolicy = %q", rs.Spec.Template.Spec.RestartPolicy)
	}
	zero := newReplicaSet()
	zero.Spec.Replicas = ptr.To(int32(0))
	replicaSetStrategy.Default(zero)
	if *zero.Spec.Replicas != 0 {
		t.Errorf("replicas 0 became %d", *zero.Spec.Replicas)
	}
}

func TestNamespaceCreate(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	namespaceStrategy.Default(ns)
	namespaceStrategy.PrepareForCreate(ctx, ns)
	if ns.Status.Phase != corev1.NamespaceActive {
		t.Errorf("phase = %q, want Active", ns.Status.Phase)
	}
	if len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
		t.Errorf("finalizers = %v, want [kubernetes]", ns.Spec.Finalizers)
	}
	if ns.Labels["kubernetes.io/metadata.name"] != "team-a" {
		t.Errorf("labels = %v, want the metadata.name label", ns.Labels)
	}
	// Creating again (e.g. a retried write) does not add it twice.
	namespaceStrategy.PrepareForCreate(ctx, ns)
	if len(ns.Spec.Finalizers) != 1 {
		t.Errorf("finalizers = %v after a second PrepareForCreate", ns.Spec.Finalizers)
	}
}

func TestDefaultNodeAllocatable(t *testing.T) {
	n := &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")}}}
	nodeStrategy.Default(n)
	if q := n.Status.Allocatable[corev1.ResourcePods]; q.String() != "110" {
		t.Errorf("allocatable pods = %s, want capacity 110", q.String())
	}
}

func TestDefaultEndpointsAndSlices(t *testing.T) {
	ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
	endpointsStrategy.Default(ep)
	if ep.Subsets[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("endpoints port protocol = %q", ep.Subsets[0].Ports[0].Protocol)
	}
	es := &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{Port: ptr.To(int32(80))}}}
	endpointSliceStrategy.Default(es)
	if p := es.Ports[0]; p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP || p.Name == nil || *p.Name != "" {
		t.Errorf("slice port = %+v, want protocol TCP and name \"\"", p)
	}
}

func TestDefaultVolumesAndHandlers(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{
			{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
			{Name: "c", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
			{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}},
			{Name: "d", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{{Path: "n", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
		}
		p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}}
	})
	v := pod.Spec.Volumes
	if *v[0].Secret.DefaultMode != 0644 || *v[1].ConfigMap.DefaultMode != 0644 || *v[2].HostPath.Type != corev1.HostPathUnset ||
		*v[3].DownwardAPI.DefaultMode != 0644 || v[3].DownwardAPI.Items[0].FieldRef.APIVersion != "v1" {
		t.Errorf("volumes not defaulted: %+v", v)
	}
	if h := pod.Spec.Containers[0].Lifecycle.PreStop.HTTPGet; h.Path != "/" || h.Scheme != corev1.URISchemeHTTP {
		t.Errorf("preStop httpGet = %+v", h)
	}
}

func TestDefaultServiceClusterIPs(t *testing.T) {
	s := newService()
	s.Spec.ClusterIP = "10.96.0.10"
	serviceStrategy.Default(s)
	if len(s.Spec.ClusterIPs) != 1 || s.Spec.ClusterIPs[0] != "10.96.0.10" {
		t.Errorf("clusterIPs = %v", s.Spec.ClusterIPs)
	}
	h := newService()
	h.Spec.ClusterIPs = []string{"None"}
	serviceStrategy.Default(h)
	if h.Spec.ClusterIP != "None" {
		t.Errorf("clusterIP = %q, want None from clusterIPs", h.Spec.ClusterIP)
	}
}
