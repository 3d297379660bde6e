package api

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-helpers/node/util/sysctl"
	"k8s.io/kubernetes/pkg/apis/core"
	corev1defaults "k8s.io/kubernetes/pkg/apis/core/v1"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/capabilities"
)

// Pod validation: the rules of k8s.io/kubernetes
// pkg/apis/core/validation.ValidatePod that a user meets in practice, with
// the same field paths and error types.

var (
	supportedRestartPolicies   = sets.New(string(corev1.RestartPolicyAlways), string(corev1.RestartPolicyOnFailure), string(corev1.RestartPolicyNever))
	supportedDNSPolicies       = sets.New(string(corev1.DNSClusterFirstWithHostNet), string(corev1.DNSClusterFirst), string(corev1.DNSDefault), string(corev1.DNSNone))
	supportedPortProtocols     = sets.New(string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP))
	supportedPullPolicies      = sets.New(string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever))
	supportedTerminationPolicy = sets.New(string(corev1.TerminationMessageReadFile), string(corev1.TerminationMessageFallbackToLogsOnError))
	supportedTaintEffects      = sets.New(string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute))
	supportedTolerationOps     = sets.New(string(corev1.TolerationOpEqual), string(corev1.TolerationOpExists))
	supportedURISchemes        = sets.New(string(corev1.URISchemeHTTP), string(corev1.URISchemeHTTPS))
	specPath                   = field.NewPath("spec")
)

func validatePod(pod *corev1.Pod) field.ErrorList {
	errs := validateMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath, podSpecContext{meta: &pod.ObjectMeta})...)
	for i, c := range pod.Spec.Containers {
		if c.Image != strings.TrimSpace(c.Image) {
			errs = append(errs, field.Invalid(specPath.Child("containers").Index(i).Child("image"), c.Image, "must not have leading or trailing whitespace"))
		}
	}
	// As upstream's ValidatePodCreate: ephemeral containers are added
	// through pods/ephemeralcontainers only.
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// validatePodTemplate checks the pod template of a workload: its labels
// and its spec, under fldPath (spec.template).
func validatePodTemplate(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabels(t.Labels, fldPath.Child("metadata", "labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(t.Annotations, fldPath.Child("metadata", "annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, fldPath.Child("spec"), podSpecContext{})...)
	return errs
}

// podSpecContext is what validating a pod spec needs beyond the spec: the
// pod's metadata (nil for a template) and, on an update, the volumes the
// stored pod has.
type podSpecContext struct {
	meta   *metav1.ObjectMeta
	update bool
	old    []corev1.Volume
}

func validatePodSpec(spec *corev1.PodSpec, fldPath *field.Path, ctx podSpecContext) field.ErrorList {
	var errs field.ErrorList
	volumes, vErrs := validateVolumes(spec.Volumes, ctx, fldPath.Child("volumes"))
	errs = append(errs, vErrs...)

	names := sets.New[string]()
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fldPath.Child("containers"), ""))
	}
	errs = append(errs, validateContainers(spec.Containers, spec, volumes, names, fldPath.Child("containers"))...)
	errs = append(errs, validateContainers(spec.InitContainers, spec, volumes, names, fldPath.Child("initContainers"))...)

	switch {
	case spec.RestartPolicy == "":
		errs = append(errs, field.Required(fldPath.Child("restartPolicy"), ""))
	case !supportedRestartPolicies.Has(string(spec.RestartPolicy)):
		errs = append(errs, field.NotSupported(fldPath.Child("restartPolicy"), spec.RestartPolicy, sets.List(supportedRestartPolicies)))
	}
	switch {
	case spec.DNSPolicy == "":
		errs = append(errs, field.Required(fldPath.Child("dnsPolicy"), ""))
	case !supportedDNSPolicies.Has(string(spec.DNSPolicy)):
		errs = append(errs, field.NotSupported(fldPath.Child("dnsPolicy"), spec.DNSPolicy, sets.List(supportedDNSPolicies)))
	}
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	if spec.ServiceAccountName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.ServiceAccountName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("serviceAccountName"), spec.ServiceAccountName, msg))
		}
	}
	if spec.NodeName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(spec.NodeName, false) {
			errs = append(errs, field.Invalid(fldPath.Child("nodeName"), spec.NodeName, msg))
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(spec.Hostname) {
			errs = append(errs, field.Invalid(fldPath.Child("hostname"), spec.Hostname, msg))
		}
	}
	if spec.Subdomain != "" {
		for _, msg := range validation.IsDNS1123Label(spec.Subdomain) {
			errs = append(errs, field.Invalid(fldPath.Child("subdomain"), spec.Subdomain, msg))
		}
	}
	errs = append(errs, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	errs = append(errs, validatePodSecurityContext(spec, fldPath.Child("securityContext"))...)
	return errs
}

// sysctlNameMessage is upstream's message for a sysctl name that is not
// one, naming the same regular expression.
var sysctlNameMessage = fmt.Sprintf("must have at most %d characters and match regex %s",
	corevalidation.SysctlMaxLength, regexp.MustCompile("^"+corevalidation.SysctlContainSlashFmt+"$"))

// validatePodSecurityContext is upstream's validatePodSpecSecurityContext
// for the user and group IDs and the sysctls (validateSysctls: a name is
// required, a sysctl name, not repeated, and not of a namespace the pod
// shares with the host). Whether a sysctl is safe or allowed is the
// node's business, not the API's.
func validatePodSecurityContext(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	sc := spec.SecurityContext
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.FSGroup != nil {
		for _, msg := range validation.IsValidGroupID(*sc.FSGroup) {
			errs = append(errs, field.Invalid(fldPath.Child("fsGroup"), *sc.FSGroup, msg))
		}
	}
	if sc.RunAsUser != nil {
		for _, msg := range validation.IsValidUserID(*sc.RunAsUser) {
			errs = append(errs, field.Invalid(fldPath.Child("runAsUser"), *sc.RunAsUser, msg))
		}
	}
	if sc.RunAsGroup != nil {
		for _, msg := range validation.IsValidGroupID(*sc.RunAsGroup) {
			errs = append(errs, field.Invalid(fldPath.Child("runAsGroup"), *sc.RunAsGroup, msg))
		}
	}
	for i, gid := range sc.SupplementalGroups {
		for _, msg := range validation.IsValidGroupID(gid) {
			errs = append(errs, field.Invalid(fldPath.Child("supplementalGroups").Index(i), gid, msg))
		}
	}
	names := sets.New[string]()
	for i, s := range sc.Sysctls {
		p := fldPath.Child("sysctls").Index(i).Child("name")
		switch {
		case s.Name == "":
			errs = append(errs, field.Required(p, ""))
		case !corevalidation.IsValidSysctlName(s.Name):
			errs = append(errs, field.Invalid(p, s.Name, sysctlNameMessage))
		case names.Has(s.Name):
			errs = append(errs, field.Duplicate(p, s.Name))
		}
		ns, _, _ := sysctl.GetNamespace(s.Name)
		switch {
		case spec.HostNetwork && ns == sysctl.NetNamespace:
			errs = append(errs, field.Invalid(p, s.Name, "may not be specified when 'hostNetwork' is true"))
		case spec.HostIPC && ns == sysctl.IPCNamespace:
			errs = append(errs, field.Invalid(p, s.Name, "may not be specified when 'hostIPC' is true"))
		}
		names.Insert(s.Name)
	}
	return errs
}

// validateContainers checks one list of containers; names collects the
// names seen so far, so init and regular containers share one namespace.
func validateContainers(containers []corev1.Container, spec *corev1.PodSpec, volumes sets.Set[string], names sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range containers {
		c := &containers[i]
		p := fldPath.Index(i)
		switch {
		case c.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case names.Has(c.Name):
			errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
		default:
			for _, msg := range validation.IsDNS1123Label(c.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
			}
		}
		names.Insert(c.Name)
		if c.Image == "" {
			errs = append(errs, field.Required(p.Child("image"), ""))
		}
		switch {
		case c.ImagePullPolicy == "":
			errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
		case !supportedPullPolicies.Has(string(c.ImagePullPolicy)):
			errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy, sets.List(supportedPullPolicies)))
		}
		switch {
		case c.TerminationMessagePolicy == "":
			errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), ""))
		case !supportedTerminationPolicy.Has(string(c.TerminationMessagePolicy)):
			errs = append(errs, field.NotSupported(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, sets.List(supportedTerminationPolicy)))
		}
		errs = append(errs, validateContainerPorts(c.Ports, spec.HostNetwork, p.Child("ports"))...)
		errs = append(errs, validateEnv(c.Env, p.Child("env"))...)
		errs = append(errs, validateVolumeMounts(c.VolumeMounts, volumes, p.Child("volumeMounts"))...)
		errs = append(errs, validateResources(&c.Resources, p.Child("resources"))...)
		errs = append(errs, validateProbe(c.LivenessProbe, p.Child("livenessProbe"), true)...)
		errs = append(errs, validateProbe(c.ReadinessProbe, p.Child("readinessProbe"), false)...)
		errs = append(errs, validateProbe(c.StartupProbe, p.Child("startupProbe"), true)...)
		// As upstream's ValidateSecurityContext: the apiserver's
		// --allow-privileged, which it sets process-wide at start.
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged && !capabilities.Get().AllowPrivileged {
			errs = append(errs, field.Forbidden(p.Child("securityContext", "privileged"), "disallowed by cluster policy"))
		}
	}
	return errs
}

func validateContainerPorts(ports []corev1.ContainerPort, hostNetwork bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[string]()
	for i, port := range ports {
		p := fldPath.Index(i)
		if port.Name != "" {
			for _, msg := range validation.IsValidPortName(port.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), port.Name, msg))
			}
			if names.Has(port.Name) {
				errs = append(errs, field.Duplicate(p.Child("name"), port.Name))
			}
			names.Insert(port.Name)
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(p.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(p.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, msg))
			}
			if hostNetwork && port.HostPort != port.ContainerPort {
				errs = append(errs, field.Invalid(p.Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
			}
		}
		errs = append(errs, validateProtocol(port.Protocol, p.Child("protocol"))...)
	}
	return errs
}

func validateProtocol(proto corev1.Protocol, fldPath *field.Path) field.ErrorList {
	switch {
	case proto == "":
		return field.ErrorList{field.Required(fldPath, "")}
	case !supportedPortProtocols.Has(string(proto)):
		return field.ErrorList{field.NotSupported(fldPath, proto, sets.List(supportedPortProtocols))}
	}
	return nil
}

func validateEnv(env []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range env {
		p := fldPath.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range validation.IsRelaxedEnvVarName(ev.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), ev.Name, msg))
			}
		}
		if ev.ValueFrom == nil {
			continue
		}
		vf := ev.ValueFrom
		n := 0
		for _, set := range []bool{vf.FieldRef != nil, vf.ResourceFieldRef != nil, vf.ConfigMapKeyRef != nil, vf.SecretKeyRef != nil, vf.FileKeyRef != nil} {
			if set {
				n++
			}
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "may not have more than one field specified at a time"))
		}
		if ev.Value != "" {
			errs = append(errs, field.Invalid(p.Child("valueFrom"), "", "may not be specified when `value` is not empty"))
		}
	}
	return errs
}

// validateVolumes is upstream's ValidateVolumes: names (DNS-1123 labels,
// unique), one source each, and every source's own rules (paths, modes,
// items, projections: service account tokens, ClusterTrustBundles, pod
// certificates' signer, key type and maxExpirationSeconds, …), with
// upstream's messages and field paths. It validates what upstream would
// store: a copy of the volumes with upstream's defaults, converted to the
// internal types. It returns the set of valid names.
func validateVolumes(volumes []corev1.Volume, ctx podSpecContext, fldPath *field.Path) (sets.Set[string], field.ErrorList) {
	if ctx.update && apiequality.Semantic.DeepEqual(volumes, ctx.old) {
		// A pod's volumes cannot change, and what was stored was valid
		// when it was written (upstream ratchets its newer rules so).
		names := sets.New[string]()
		for _, v := range volumes {
			names.Insert(v.Name)
		}
		return names, nil
	}
	defaulted := &corev1.Pod{Spec: corev1.PodSpec{Volumes: make([]corev1.Volume, len(volumes))}}
	for i := range volumes {
		volumes[i].DeepCopyInto(&defaulted.Spec.Volumes[i])
	}
	corev1defaults.SetObjectDefaults_Pod(defaulted)
	internal := make([]core.Volume, len(volumes))
	for i := range defaulted.Spec.Volumes {
		if err := corev1defaults.Convert_v1_Volume_To_core_Volume(&defaulted.Spec.Volumes[i], &internal[i], nil); err != nil {
			return sets.New[string](), field.ErrorList{field.InternalError(fldPath.Index(i), err)}
		}
	}
	// The options upstream gives a new pod's volumes (the only one they
	// read, AllowNonLocalProjectedTokenPath, is false but for old pods).
	valid, errs := corevalidation.ValidateVolumes(internal, ctx.meta, fldPath, corevalidation.PodValidationOptions{})
	names := sets.New[string]()
	for name := range valid {
		names.Insert(name)
	}
	return names, errs
}

func validateVolumeMounts(mounts []corev1.VolumeMount, volumes sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	paths := sets.New[string]()
	for i, m := range mounts {
		p := fldPath.Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(p.Child("name"), ""))
		case !volumes.Has(m.Name):
			errs = append(errs, field.NotFound(p.Child("name"), m.Name))
		}
		switch {
		case m.MountPath == "":
			errs = append(errs, field.Required(p.Child("mountPath"), ""))
		case paths.Has(m.MountPath):
			errs = append(errs, field.Invalid(p.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths.Insert(m.MountPath)
		if strings.HasPrefix(m.SubPath, "/") || strings.Contains("/"+m.SubPath+"/", "/../") {
			errs = append(errs, field.Invalid(p.Child("subPath"), m.SubPath, "must be a relative path without '..'"))
		}
	}
	return errs
}

func validateResources(r *corev1.ResourceRequirements, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	for name, q := range r.Limits {
		errs = append(errs, validateResourceQuantity(name, q, limPath.Key(string(name)))...)
	}
	for name, q := range r.Requests {
		p := reqPath.Key(string(name))
		errs = append(errs, validateResourceQuantity(name, q, p)...)
		if lim, ok := r.Limits[name]; ok && q.Cmp(lim) > 0 {
			errs = append(errs, field.Invalid(p, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

func validateResourceQuantity(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(name)) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	if q.Sign() < 0 {
		errs = append(errs, field.Invalid(fldPath, q.String(), "must be greater than or equal to 0"))
	}
	return errs
}

func validateProbe(probe *corev1.Probe, fldPath *field.Path, successMustBeOne bool) field.ErrorList {
	if probe == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	h := probe.ProbeHandler
	if h.Exec != nil {
		n++
	}
	if h.HTTPGet != nil {
		n++
		if h.HTTPGet.Scheme != "" && !supportedURISchemes.Has(string(h.HTTPGet.Scheme)) {
			errs = append(errs, field.NotSupported(fldPath.Child("httpGet", "scheme"), h.HTTPGet.Scheme, sets.List(supportedURISchemes)))
		}
		errs = append(errs, validatePortOrName(h.HTTPGet.Port.IntValue(), h.HTTPGet.Port.String(), h.HTTPGet.Port.Type == 0, fldPath.Child("httpGet", "port"))...)
	}
	if h.TCPSocket != nil {
		n++
		errs = append(errs, validatePortOrName(h.TCPSocket.Port.IntValue(), h.TCPSocket.Port.String(), h.TCPSocket.Port.Type == 0, fldPath.Child("tcpSocket", "port"))...)
	}
	if h.GRPC != nil {
		n++
		for _, msg := range validation.IsValidPortNum(int(h.GRPC.Port)) {
			errs = append(errs, field.Invalid(fldPath.Child("grpc", "port"), h.GRPC.Port, msg))
		}
	}
	switch {
	case n == 0:
		errs = append(errs, field.Required(fldPath, "must specify a handler type"))
	case n > 1:
		errs = append(errs, field.Forbidden(fldPath, "may not specify more than 1 handler type"))
	}
	for _, f := range []struct {
		name string
		v    int32
	}{
		{"initialDelaySeconds", probe.InitialDelaySeconds},
		{"timeoutSeconds", probe.TimeoutSeconds},
		{"periodSeconds", probe.PeriodSeconds},
		{"successThreshold", probe.SuccessThreshold},
		{"failureThreshold", probe.FailureThreshold},
	} {
		errs = append(errs, apivalidation.ValidateNonnegativeField(int64(f.v), fldPath.Child(f.name))...)
	}
	if successMustBeOne && probe.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(fldPath.Child("successThreshold"), probe.SuccessThreshold, "must be 1"))
	}
	return errs
}

// validatePortOrName checks a probe's port, a number or an IANA_SVC_NAME.
func validatePortOrName(num int, name string, isInt bool, fldPath *field.Path) field.ErrorList {
	var msgs []string
	if isInt {
		msgs = validation.IsValidPortNum(num)
	} else {
		msgs = validation.IsValidPortName(name)
	}
	var errs field.ErrorList
	for _, msg := range msgs {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

func validateTolerations(tolerations []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tolerations {
		p := fldPath.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(p.Child("operator"), t.Operator, "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(p.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			for _, msg := range validation.IsValidLabelValue(t.Value) {
				errs = append(errs, field.Invalid(p.Child("value"), t.Value, msg))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("operator"), t.Operator, sets.List(supportedTolerationOps)))
		}
		if t.Effect != "" && !supportedTaintEffects.Has(string(t.Effect)) {
			errs = append(errs, field.NotSupported(p.Child("effect"), t.Effect, sets.List(supportedTaintEffects)))
		}
	}
	return errs
}

// podUpdateForbiddenMessage is Kubernetes' wording for a change to an
// immutable part of a pod's spec.
const podUpdateForbiddenMessage = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations)"

func validatePodUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validateMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath, podSpecContext{meta: &pod.ObjectMeta, update: true, old: old.Spec.Volumes})...)
	if len(errs) > 0 {
		return errs
	}

	if pod.Spec.ActiveDeadlineSeconds != nil {
		if old.Spec.ActiveDeadlineSeconds != nil && *old.Spec.ActiveDeadlineSeconds < *pod.Spec.ActiveDeadlineSeconds {
			return append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), *pod.Spec.ActiveDeadlineSeconds, "must be less than or equal to previous value"))
		}
	} else if old.Spec.ActiveDeadlineSeconds != nil {
		return append(errs, field.Invalid(specPath.Child("activeDeadlineSeconds"), pod.Spec.ActiveDeadlineSeconds, "must not update from a positive integer to nil value"))
	}
	errs = append(errs, validateOnlyAddedTolerations(pod.Spec.Tolerations, old.Spec.Tolerations, specPath.Child("tolerations"))...)

	// Take the mutable fields from the old spec into a copy of the new
	// one: whatever differs after that was a forbidden change.
	mutated := pod.Spec.DeepCopy()
	if len(mutated.Containers) == len(old.Spec.Containers) {
		for i := range mutated.Containers {
			mutated.Containers[i].Image = old.Spec.Containers[i].Image
		}
	}
	if len(mutated.InitContainers) == len(old.Spec.InitContainers) {
		for i := range mutated.InitContainers {
			mutated.InitContainers[i].Image = old.Spec.InitContainers[i].Image
		}
	}
	mutated.ActiveDeadlineSeconds = old.Spec.ActiveDeadlineSeconds
	mutated.Tolerations = old.Spec.Tolerations
	if !apiequality.Semantic.DeepEqual(*mutated, old.Spec) {
		errs = append(errs, field.Forbidden(specPath, podUpdateForbiddenMessage))
	}
	return errs
}

// validateOnlyAddedTolerations: every old toleration must still be there;
// Kubernetes lets only a NoExecute toleration's seconds shrink.
func validateOnlyAddedTolerations(tolerations, old []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	// As upstream's: each old toleration must still be there, but for
	// its tolerationSeconds, which may change; one error at most.
	for _, o := range old {
		found := false
		for _, t := range tolerations {
			clone := o
			clone.TolerationSeconds = t.TolerationSeconds
			if apiequality.Semantic.DeepEqual(clone, t) {
				found = true
				break
			}
		}
		if !found {
			return field.ErrorList{field.Forbidden(fldPath, "existing toleration can not be modified except its tolerationSeconds")}
		}
	}
	return nil
}

func validatePodStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	errs := validateMetaUpdate(&pod.ObjectMeta, &old.ObjectMeta)
	statusPath := field.NewPath("status")
	if pod.Status.NominatedNodeName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(pod.Status.NominatedNodeName, false) {
			errs = append(errs, field.Invalid(statusPath.Child("nominatedNodeName"), pod.Status.NominatedNodeName, msg))
		}
	}
	if pod.Status.ObservedGeneration < 0 {
		errs = append(errs, field.Invalid(statusPath.Child("observedGeneration"), pod.Status.ObservedGeneration, "must be a non-negative integer"))
	}
	for i, c := range pod.Status.Conditions {
		if c.ObservedGeneration < 0 {
			errs = append(errs, field.Invalid(statusPath.Child("conditions").Index(i).Child("observedGeneration"), c.ObservedGeneration, "must be a non-negative integer"))
		}
	}
	for i, ip := range pod.Status.PodIPs {
		errs = append(errs, validation.IsValidIP(statusPath.Child("podIPs").Index(i).Child("ip"), ip.IP)...)
	}
	for i, ip := range pod.Status.HostIPs {
		errs = append(errs, validation.IsValidIP(statusPath.Child("hostIPs").Index(i).Child("ip"), ip.IP)...)
	}
	// A pod that has finished does not come back.
	if isTerminalPhase(old.Status.Phase) && pod.Status.Phase != old.Status.Phase {
		errs = append(errs, field.Forbidden(statusPath.Child("phase"), fmt.Sprintf("cannot transition from terminal phase %q to %q", old.Status.Phase, pod.Status.Phase)))
	}
	return errs
}

func isTerminalPhase(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// podQOSClass computes the pod's quality-of-service class as Kubernetes
// does from cpu and memory requests and limits: none anywhere is
// BestEffort; limits on every container for both, equal to the requests,
// is Guaranteed; anything else is Burstable.
func podQOSClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	all := append(append([]corev1.Container(nil), spec.InitContainers...), spec.Containers...)
	for _, c := range all {
		for name, q := range c.Resources.Requests {
			if isQOSResource(name) && q.Sign() > 0 {
				addQuantity(requests, name, q)
			}
		}
		found := sets.New[corev1.ResourceName]()
		for name, q := range c.Resources.Limits {
			if isQOSResource(name) && q.Sign() > 0 {
				found.Insert(name)
				addQuantity(limits, name, q)
			}
		}
		if !found.HasAll(corev1.ResourceCPU, corev1.ResourceMemory) {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

func isQOSResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory
}

func addQuantity(list corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
	cur, ok := list[name]
	if !ok {
		list[name] = q.DeepCopy()
		return
	}
	cur.Add(q)
	list[name] = cur
}
