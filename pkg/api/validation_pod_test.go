package api

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestValidatePod(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*corev1.Pod) {}},
		{name: "valid with init container, volume and mount", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox"}}
			p.Spec.Volumes = []corev1.Volume{{Name: "data"}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODE", Value: "x"}, {Name: "my.var-1", Value: "relaxed names are fine"}}
		}},
		{name: "missing name", mutate: func(p *corev1.Pod) { p.Name = "" }, want: []wantErr{required("metadata.name")}},
		{name: "name not a DNS subdomain", mutate: func(p *corev1.Pod) { p.Name = "Web_1" }, want: []wantErr{invalid("metadata.name")}},
		{name: "missing namespace", mutate: func(p *corev1.Pod) { p.Namespace = "" }, want: []wantErr{required("metadata.namespace")}},
		{name: "bad label key", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"bad key": "x"} }, want: []wantErr{invalid("metadata.labels")}},
		{name: "bad label value", mutate: func(p *corev1.Pod) { p.Labels = map[string]string{"app": "-x-"} }, want: []wantErr{invalid("metadata.labels")}},
		{name: "bad annotation key", mutate: func(p *corev1.Pod) { p.Annotations = map[string]string{"a/b/c": "x"} }, want: []wantErr{invalid("metadata.annotations")}},
		{name: "no containers", mutate: func(p *corev1.Pod) { p.Spec.Containers = nil }, want: []wantErr{required("spec.containers")}},
		{name: "container name missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, want: []wantErr{required("spec.containers[0].name")}},
		{name: "container name not a DNS label", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App.1" }, want: []wantErr{invalid("spec.containers[0].name")}},
		{name: "duplicate container names", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app", Image: "x"})
		}, want: []wantErr{duplicate("spec.containers[1].name")}},
		{name: "init container name clashes with a container", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "app", Image: "busybox"}}
		}, want: []wantErr{duplicate("spec.initContainers[0].name")}},
		{name: "image missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, want: []wantErr{required("spec.containers[0].image")}},
		{name: "image with spaces", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, want: []wantErr{invalid("spec.containers[0].image")}},
		{name: "container port zero", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, want: []wantErr{required("spec.containers[0].ports[0].containerPort")}},
		{name: "container port too big", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }, want: []wantErr{invalid("spec.containers[0].ports[0].containerPort")}},
		{name: "host port too big", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 65536 }, want: []wantErr{invalid("spec.containers[0].ports[0].hostPort")}},
		{name: "bad protocol", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }, want: []wantErr{notSupported("spec.containers[0].ports[0].protocol")}},
		{name: "port name not IANA_SVC_NAME", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "http_port" }, want: []wantErr{invalid("spec.containers[0].ports[0].name")}},
		{name: "duplicate port names", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 9090})
		}, want: []wantErr{duplicate("spec.containers[0].ports[1].name")}},
		{name: "host network needs hostPort == containerPort", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 9999
		}, want: []wantErr{invalid("spec.containers[0].ports[0].hostPort")}},
		{name: "env name missing", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Value: "x"}} }, want: []wantErr{required("spec.containers[0].env[0].name")}},
		{name: "env name with =", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A=B"}} }, want: []wantErr{invalid("spec.containers[0].env[0].name")}},
		{name: "env value and valueFrom", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: "x", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
		}, want: []wantErr{invalid("spec.containers[0].env[0].valueFrom")}},
		{name: "volume name invalid", mutate: func(p *corev1.Pod) { p.Spec.Volumes = []corev1.Volume{{Name: "Data"}} }, want: []wantErr{invalid("spec.volumes[0].name")}},
		{name: "duplicate volume names", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data"}, {Name: "data"}}
		}, want: []wantErr{duplicate("spec.volumes[1].name")}},
		{name: "volume with two sources", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}}}
		}, want: []wantErr{forbidden("spec.volumes[0].hostPath")}},
		{name: "secret volume without a name", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}}}
		}, want: []wantErr{required("spec.volumes[0].secret.secretName")}},
		{name: "projected token with a relative path outside the volume", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "../token"}}}}}}}
		}, want: []wantErr{invalid("spec.volumes[0].projected.path")}}, // upstream's path
		{name: "pod certificate with an unknown key type", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "c", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/s", KeyType: "DSA", CredentialBundlePath: "b.pem"}}}}}}}
		}, want: []wantErr{notSupported("spec.volumes[0].projected.sources[0].podCertificate.keyType")}},
		{name: "mount of a missing volume", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
		}, want: []wantErr{notFound("spec.containers[0].volumeMounts[0].name")}},
		{name: "mount without path", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data"}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data"}}
		}, want: []wantErr{required("spec.containers[0].volumeMounts[0].mountPath")}},
		{name: "same mount path twice", mutate: func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "a"}, {Name: "b"}}
			p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "a", MountPath: "/d"}, {Name: "b", MountPath: "/d"}}
		}, want: []wantErr{invalid("spec.containers[0].volumeMounts[1].mountPath")}},
		// The package's tests run with the process-wide default,
		// --allow-privileged=false (pkg/apiserver tests the flag).
		{name: "privileged container", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}, want: []wantErr{forbidden("spec.containers[0].securityContext.privileged")}},
		{name: "privileged init container", mutate: func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile, SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		}, want: []wantErr{forbidden("spec.initContainers[0].securityContext.privileged")}},
		{name: "unprivileged container", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(false)}
		}},
		{name: "restart policy unknown", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, want: []wantErr{notSupported("spec.restartPolicy")}},
		{name: "dns policy unknown", mutate: func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, want: []wantErr{notSupported("spec.dnsPolicy")}},
		{name: "pull policy unknown", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" }, want: []wantErr{notSupported("spec.containers[0].imagePullPolicy")}},
		{name: "request above limit", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
			}
		}, want: []wantErr{invalid("spec.containers[0].resources.requests[cpu]")}},
		{name: "request equal to limit", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			}
		}},
		{name: "negative quantity", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}
			// The request defaults to the limit, so both are reported.
		}, want: []wantErr{invalid("spec.containers[0].resources.limits[cpu]"), invalid("spec.containers[0].resources.requests[cpu]")}},
		{name: "probe without handler", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
		}, want: []wantErr{required("spec.containers[0].readinessProbe")}},
		{name: "liveness success threshold must be 1", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, SuccessThreshold: 2}
		}, want: []wantErr{invalid("spec.containers[0].livenessProbe.successThreshold")}},
		{name: "probe port out of range", mutate: func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(0)}}}
		}, want: []wantErr{invalid("spec.containers[0].readinessProbe.httpGet.port")}},
		{name: "activeDeadlineSeconds zero", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(0)) }, want: []wantErr{invalid("spec.activeDeadlineSeconds")}},
		{name: "bad node name", mutate: func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }, want: []wantErr{invalid("spec.nodeName")}},
		{name: "bad node selector", mutate: func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ss d"} }, want: []wantErr{invalid("spec.nodeSelector")}},
		{name: "toleration with empty key needs Exists", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "x"}}
		}, want: []wantErr{invalid("spec.tolerations[0].operator")}},
		{name: "toleration seconds without NoExecute", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr.To(int64(5))}}
		}, want: []wantErr{invalid("spec.tolerations[0].effect")}},
		{name: "toleration effect unknown", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists, Effect: "Sometimes"}}
		}, want: []wantErr{notSupported("spec.tolerations[0].effect")}},
		// The conformance spec "should reject invalid sysctls": the
		// names that are not sysctl names, nothing about the others
		// (safe or not is the node's business).
		{name: "sysctls: invalid names rejected, unsafe ones are not the API's business", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: "foo-", Value: "bar"}, {Name: "kernel.shmmax", Value: "100000000"},
				{Name: "safe-and-unsafe", Value: "100000000"}, {Name: "bar..", Value: "42"},
			}}
		}, want: []wantErr{invalid("spec.securityContext.sysctls[0].name"), invalid("spec.securityContext.sysctls[3].name")}},
		{name: "sysctls: valid, with slashes too", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net/ipv4/ip_local_port_range", Value: "1024 65535"},
			}}
		}},
		{name: "sysctls: name required, no duplicates", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Value: "1"}, {Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "kernel.shm_rmid_forced", Value: "0"},
			}}
		}, want: []wantErr{required("spec.securityContext.sysctls[0].name"), duplicate("spec.securityContext.sysctls[2].name")}},
		{name: "sysctls: not of a namespace shared with the host", mutate: func(p *corev1.Pod) {
			p.Spec.HostNetwork, p.Spec.HostIPC = true, true
			p.Spec.Containers[0].Ports[0].HostPort = p.Spec.Containers[0].Ports[0].ContainerPort
			p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
				{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}, {Name: "kernel.shm_rmid_forced", Value: "1"},
			}}
		}, want: []wantErr{invalid("spec.securityContext.sysctls[0].name"), invalid("spec.securityContext.sysctls[1].name")}},
		{name: "pod security context: negative IDs", mutate: func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To(int64(-1)), RunAsGroup: ptr.To(int64(-1)),
				FSGroup: ptr.To(int64(-1)), SupplementalGroups: []int64{1, -2}}
		}, want: []wantErr{invalid("spec.securityContext.fsGroup"), invalid("spec.securityContext.runAsUser"),
			invalid("spec.securityContext.runAsGroup"), invalid("spec.securityContext.supplementalGroups[1]")}},
		{name: "default tolerations are valid", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To(int64(300))},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := defaultedPod(tt.mutate)
			checkErrs(t, podStrategy.Validate(ctx, pod), tt.want...)
		})
	}
}

func TestValidatePodErrorDetail(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App" })
	errs := podStrategy.Validate(ctx, pod)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "RFC 1123") {
		t.Errorf("got %v, want the DNS-1123 label message", errs)
	}
}

func TestValidatePodUpdate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []wantErr
	}{
		{name: "labels may change", mutate: func(p *corev1.Pod) { p.Labels["tier"] = "front" }},
		{name: "image may change", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "minik8s/echo:2.0" }},
		{name: "activeDeadlineSeconds may be set", mutate: func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(60)) }},
		{name: "tolerations may be added", mutate: func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}},
		{name: "ports may not change", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 }, want: []wantErr{forbidden("spec")}},
		{name: "containers may not be added", mutate: func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "x", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile})
		}, want: []wantErr{forbidden("spec")}},
		{name: "restartPolicy may not change", mutate: func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }, want: []wantErr{forbidden("spec")}},
		{name: "name may not change", mutate: func(p *corev1.Pod) { p.Name = "other" }, want: []wantErr{invalid("metadata.name")}},
		{name: "image may not be emptied", mutate: func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, want: []wantErr{required("spec.containers[0].image")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := stored(defaultedPod(nil))
			pod := old.DeepCopy()
			tt.mutate(pod)
			checkErrs(t, podStrategy.ValidateUpdate(ctx, pod, old), tt.want...)
		})
	}

	t.Run("tolerations may not be removed", func(t *testing.T) {
		old := stored(defaultedPod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
		}))
		pod := old.DeepCopy()
		pod.Spec.Tolerations = nil
		checkErrs(t, podStrategy.ValidateUpdate(ctx, pod, old), forbidden("spec.tolerations"))
	})
	t.Run("activeDeadlineSeconds may only shrink", func(t *testing.T) {
		old := stored(defaultedPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To(int64(60)) }))
		pod := old.DeepCopy()
		pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(120))
		checkErrs(t, podStrategy.ValidateUpdate(ctx, pod, old), invalid("spec.activeDeadlineSeconds"))
		pod.Spec.ActiveDeadlineSeconds = nil
		checkErrs(t, podStrategy.ValidateUpdate(ctx, pod, old), invalid("spec.activeDeadlineSeconds"))
		pod.Spec.ActiveDeadlineSeconds = ptr.To(int64(30))
		checkErrs(t, podStrategy.ValidateUpdate(ctx, pod, old))
	})
}

func TestValidatePodStatusUpdate(t *testing.T) {
	old := stored(defaultedPod(nil))
	old.Status.Phase = corev1.PodSucceeded
	pod := old.DeepCopy()
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.300"}}
	pod.Status.Phase = corev1.PodRunning
	checkErrs(t, podStrategy.ValidateStatusUpdate(ctx, pod, old), invalid("status.podIPs[0].ip"), forbidden("status.phase"))

	good := old.DeepCopy()
	good.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.5"}}
	checkErrs(t, podStrategy.ValidateStatusUpdate(ctx, good, old))
}

func TestPodQOSClass(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	tests := []struct {
		name string
		res  corev1.ResourceRequirements
		want corev1.PodQOSClass
	}{
		{"nothing", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"requests only", corev1.ResourceRequirements{Requests: rl("100m", "")}, corev1.PodQOSBurstable},
		{"limits equal requests", corev1.ResourceRequirements{Limits: rl("1", "1Gi"), Requests: rl("1", "1Gi")}, corev1.PodQOSGuaranteed},
		{"limits lacking memory", corev1.ResourceRequirements{Limits: rl("1", ""), Requests: rl("1", "")}, corev1.PodQOSBurstable},
		{"requests below limits", corev1.ResourceRequirements{Limits: rl("1", "1Gi"), Requests: rl("500m", "1Gi")}, corev1.PodQOSBurstable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := newPod()
			pod.Spec.Containers[0].Resources = tt.res
			podStrategy.Default(pod)
			podStrategy.PrepareForCreate(ctx, pod)
			if pod.Status.QOSClass != tt.want {
				t.Errorf("got %s, want %s", pod.Status.QOSClass, tt.want)
			}
		})
	}
}

// TestInvalidSysctlsMessage is what the conformance spec "should reject
// invalid sysctls" matches in the error of the create: the two invalid
// names quoted, the valid ones not named at all.
func TestInvalidSysctlsMessage(t *testing.T) {
	pod := defaultedPod(func(p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{
			{Name: "foo-", Value: "bar"}, {Name: "kernel.shmmax", Value: "100000000"},
			{Name: "safe-and-unsafe", Value: "100000000"}, {Name: "bar..", Value: "42"},
		}}
	})
	msg := podStrategy.Validate(ctx, pod).ToAggregate().Error()
	for _, want := range []string{`Invalid value: "foo-"`, `Invalid value: "bar.."`, "must have at most 253 characters and match regex ^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	for _, unwanted := range []string{"safe-and-unsafe", "kernel.shmmax"} {
		if strings.Contains(msg, unwanted) {
			t.Errorf("error %q names %q, a valid sysctl", msg, unwanted)
		}
	}
}

// A podCertificate projection's maxExpirationSeconds is refused outside
// [1h, 91d] with upstream's messages, which the conformance tests match.
func TestValidatePodCertificateMaxExpiration(t *testing.T) {
	for _, tt := range []struct {
		seconds int32
		want    string
	}{
		{3599, "if provided, maxExpirationSeconds must be >= 3600"},
		{91*24*3600 + 1, "if provided, maxExpirationSeconds must be <= 7862400"},
		{3600, ""},
	} {
		p := defaultedPod(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "e2e.example.com/signer", KeyType: "ECDSAP256",
					CredentialBundlePath: "bundle.pem", MaxExpirationSeconds: &tt.seconds}}}}}}}
		})
		errs := podStrategy.Validate(ctx, p)
		switch {
		case tt.want == "" && len(errs) > 0:
			t.Errorf("%d s: %v, want no error", tt.seconds, errs)
		case tt.want != "" && (len(errs) != 1 || errs[0].Field != "spec.volumes[0].projected.sources[0].podCertificate.maxExpirationSeconds" ||
			!strings.Contains(errs.ToAggregate().Error(), tt.want)):
			t.Errorf("%d s: %v, want one error on maxExpirationSeconds saying %q", tt.seconds, errs, tt.want)
		}
	}
}
