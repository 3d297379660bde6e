package addons

import (
	"fmt"
	"net"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// CoreDNSVersion is the CoreDNS release cmd/coredns builds (its go.mod
// requires github.com/coredns/coredns at v + this); the image is tagged
// with it.
const CoreDNSVersion = "1.15.0"

// Defaults of the DNS add-on, as kubeadm's.
const (
	DefaultDNSClusterIP  = "10.96.0.10"
	DefaultClusterDomain = "cluster.local"
	DefaultDNSImage      = "minik8s/coredns:" + CoreDNSVersion
	DefaultUpstream      = "/etc/resolv.conf"
)

// The addon manager's mode label and its values.
const (
	ModeLabel        = "addonmanager.kubernetes.io/mode"
	ModeReconcile    = "Reconcile"
	ModeEnsureExists = "EnsureExists"
)

// DNSConfig configures the DNS add-on.
type DNSConfig struct {
	// ClusterIP is the kube-dns Service's address, the agents'
	// --cluster-dns.
	ClusterIP string
	// ClusterDomain is the agents' --cluster-domain.
	ClusterDomain string
	// Image is CoreDNS's image.
	Image    string
	Replicas int32
	// Upstream is where names outside the cluster domain are forwarded
	// (CoreDNS's `forward . <Upstream>`); empty forwards nothing, and such
	// names fail at once with SERVFAIL.
	Upstream string
	// APIServer is the URL the kubernetes plugin reaches the API server at
	// (its `endpoint`); empty uses the pod's in-cluster configuration
	// (service account token), which needs token mounting.
	APIServer string
}

// NewDNSConfig returns kubeadm's defaults: 10.96.0.10, cluster.local, two
// replicas, forwarding to the node's resolvers.
func NewDNSConfig() *DNSConfig {
	return &DNSConfig{
		ClusterIP:     DefaultDNSClusterIP,
		ClusterDomain: DefaultClusterDomain,
		Image:         DefaultDNSImage,
		Replicas:      2,
		Upstream:      DefaultUpstream,
	}
}

// Validate checks c.
func (c *DNSConfig) Validate() error {
	if ip := net.ParseIP(c.ClusterIP); ip == nil || ip.To4() == nil {
		return fmt.Errorf("DNS ClusterIP %q is not an IPv4 address", c.ClusterIP)
	}
	if c.ClusterDomain == "" || strings.ContainsAny(c.ClusterDomain, " \t{}") {
		return fmt.Errorf("cluster domain %q is not a domain name", c.ClusterDomain)
	}
	if c.Image == "" {
		return fmt.Errorf("the CoreDNS image is empty")
	}
	if c.Replicas < 0 {
		return fmt.Errorf("replicas %d: want 0 or more", c.Replicas)
	}
	if c.APIServer != "" && !strings.HasPrefix(c.APIServer, "http://") && !strings.HasPrefix(c.APIServer, "https://") {
		return fmt.Errorf("API server %q: want an http:// or https:// URL", c.APIServer)
	}
	if strings.ContainsAny(c.Upstream, "{}\n") || strings.ContainsAny(c.APIServer, "{}\n ") {
		return fmt.Errorf("upstream %q or API server %q would break the Corefile", c.Upstream, c.APIServer)
	}
	return nil
}

// Corefile is kubeadm's default Corefile for c.
func (c *DNSConfig) Corefile() string {
	var b strings.Builder
	b.WriteString(".:53 {\n    errors\n    health {\n        lameduck 5s\n    }\n    ready\n")
	fmt.Fprintf(&b, "    kubernetes %s in-addr.arpa ip6.arpa {\n", c.ClusterDomain)
	if c.APIServer != "" {
		fmt.Fprintf(&b, "        endpoint %s\n", c.APIServer)
	}
	b.WriteString("        pods insecure\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 30\n    }\n")
	b.WriteString("    prometheus :9153\n")
	if c.Upstream != "" {
		fmt.Fprintf(&b, "    forward . %s {\n        max_concurrent 1000\n    }\n", c.Upstream)
	}
	// As kubeadm's: cluster names are not cached, so a Service's name
	// follows the Service at once (the kubernetes plugin answers from its
	// watch cache anyway).
	fmt.Fprintf(&b, "    cache 30 {\n        disable success %s\n        disable denial %s\n    }\n", c.ClusterDomain, c.ClusterDomain)
	b.WriteString("    loop\n    reload\n    loadbalance\n}\n")
	return b.String()
}

var dnsLabels = map[string]string{"k8s-app": "kube-dns"}

func withMode(mode string, extra map[string]string) map[string]string {
	l := map[string]string{ModeLabel: mode}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

// DNS returns the add-on's objects in creation order: ServiceAccount,
// ClusterRole, ClusterRoleBinding, ConfigMap, Deployment, Service.
func DNS(c *DNSConfig) []runtime.Object {
	const ns = "kube-system"
	sa := &corev1.ServiceAccount{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: ns, Labels: withMode(ModeReconcile, map[string]string{"kubernetes.io/cluster-service": "true"})},
	}
	role := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: "system:coredns", Labels: withMode(ModeReconcile, map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"})},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		},
	}
	binding := &rbacv1.ClusterRoleBinding{
		TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "system:coredns",
			Annotations: map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"},
			Labels:      withMode(ModeEnsureExists, map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"})},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:coredns"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "coredns", Namespace: ns}},
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: ns, Labels: withMode(ModeEnsureExists, nil)},
		Data:       map[string]string{"Corefile": c.Corefile()},
	}
	deploy := &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: ns, Labels: withMode(ModeReconcile, map[string]string{
			"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"})},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(c.Replicas),
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			Selector: &metav1.LabelSelector{MatchLabels: dnsLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: dnsLabels},
				Spec:       coreDNSPodSpec(c),
			},
		},
	}
	svc := &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: ns,
			Annotations: map[string]string{"prometheus.io/port": "9153", "prometheus.io/scrape": "true"},
			Labels: withMode(ModeReconcile, map[string]string{
				"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"})},
		Spec: corev1.ServiceSpec{
			Selector:  dnsLabels,
			ClusterIP: c.ClusterIP,
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
				{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9153)},
			},
		},
	}
	return []runtime.Object{sa, role, binding, cm, deploy, svc}
}

func coreDNSPodSpec(c *DNSConfig) corev1.PodSpec {
	return corev1.PodSpec{
		PriorityClassName:  "system-cluster-critical",
		ServiceAccountName: "coredns",
		Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 100,
				PodAffinityTerm: corev1.PodAffinityTerm{
					LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "k8s-app", Operator: metav1.LabelSelectorOpIn, Values: []string{"kube-dns"}}}},
					TopologyKey: "kubernetes.io/hostname",
				},
			}},
		}},
		Tolerations:  []corev1.Toleration{{Key: "CriticalAddonsOnly", Operator: corev1.TolerationOpExists}},
		NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
		DNSPolicy:    corev1.DNSDefault,
		Containers: []corev1.Container{{
			Name:            "coredns",
			Image:           c.Image,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Args:            []string{"-conf", "/etc/coredns/Corefile"},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("170Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("70Mi")},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "config-volume", MountPath: "/etc/coredns", ReadOnly: true}},
			Ports: []corev1.ContainerPort{
				{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: 9153, Protocol: corev1.ProtocolTCP},
			},
			LivenessProbe: &corev1.Probe{
				ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
				InitialDelaySeconds: 60, TimeoutSeconds: 5, SuccessThreshold: 1, FailureThreshold: 5,
			},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8181), Scheme: corev1.URISchemeHTTP}},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false),
				Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
				ReadOnlyRootFilesystem:   ptr.To(true),
			},
		}},
		Volumes: []corev1.Volume{{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "coredns"},
			Items:                []corev1.KeyToPath{{Key: "Corefile", Path: "Corefile"}},
		}}}},
	}
}
