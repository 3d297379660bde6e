package api

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Service validation after k8s.io/kubernetes
// pkg/apis/core/validation.ValidateService.

// The NodePort range Kubernetes (and this server) allocates from.
const (
	NodePortMin = 30000
	NodePortMax = 32767
)

// maxClientIPServiceAffinitySeconds is the longest ClientIP affinity
// timeout Kubernetes accepts (a day).
const maxClientIPServiceAffinitySeconds = 86400

var (
	supportedServiceTypes = sets.New(string(corev1.ServiceTypeClusterIP), string(corev1.ServiceTypeNodePort),
		string(corev1.ServiceTypeLoadBalancer), string(corev1.ServiceTypeExternalName))
	supportedSessionAffinity       = sets.New(string(corev1.ServiceAffinityClientIP), string(corev1.ServiceAffinityNone))
	supportedExternalTrafficPolicy = sets.New(string(corev1.ServiceExternalTrafficPolicyCluster), string(corev1.ServiceExternalTrafficPolicyLocal))
	supportedInternalTrafficPolicy = sets.New(string(corev1.ServiceInternalTrafficPolicyCluster), string(corev1.ServiceInternalTrafficPolicyLocal))
	supportedIPFamilyPolicies      = sets.New(string(corev1.IPFamilyPolicySingleStack), string(corev1.IPFamilyPolicyPreferDualStack), string(corev1.IPFamilyPolicyRequireDualStack))
	supportedIPFamilies            = sets.New(string(corev1.IPv4Protocol), string(corev1.IPv6Protocol))
)

func isHeadless(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP == corev1.ClusterIPNone
}

func validateService(svc *corev1.Service) field.ErrorList {
	errs := validateMeta(&svc.ObjectMeta, true, apivalidation.NameIsDNS1035Label)
	return append(errs, validateServiceSpec(svc)...)
}

func validateServiceSpec(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	switch {
	case spec.Type == "":
		errs = append(errs, field.Required(specPath.Child("type"), ""))
	case !supportedServiceTypes.Has(string(spec.Type)):
		errs = append(errs, field.NotSupported(specPath.Child("type"), spec.Type, sets.List(supportedServiceTypes)))
	}

	if len(spec.Ports) == 0 && !isHeadless(svc) && spec.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Required(specPath.Child("ports"), ""))
	}

	switch spec.Type {
	case corev1.ServiceTypeExternalName:
		if spec.ClusterIP != "" {
			errs = append(errs, field.Forbidden(specPath.Child("clusterIP"), "may not be set for ExternalName services"))
		}
		if spec.ExternalName == "" {
			errs = append(errs, field.Required(specPath.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(trimTrailingDot(spec.ExternalName)) {
				errs = append(errs, field.Invalid(specPath.Child("externalName"), spec.ExternalName, msg))
			}
		}
	case corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
		if isHeadless(svc) {
			errs = append(errs, field.Invalid(specPath.Child("clusterIP"), spec.ClusterIP, fmt.Sprintf("may not be set to 'None' for %s services", spec.Type)))
		}
	}

	if spec.ClusterIP != "" && spec.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, validation.IsValidIP(specPath.Child("clusterIP"), spec.ClusterIP)...)
	}
	if len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] != spec.ClusterIP {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs[0], "must match `clusterIP`"))
	}
	if len(spec.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(specPath.Child("clusterIPs"), spec.ClusterIPs, "may only hold up to 2 values"))
	}

	errs = append(errs, validateServicePorts(svc)...)

	errs = append(errs, metav1validation.ValidateLabels(spec.Selector, specPath.Child("selector"))...)
	for i, ip := range spec.ExternalIPs {
		errs = append(errs, validation.IsValidIP(specPath.Child("externalIPs").Index(i), ip)...)
	}

	switch {
	case spec.SessionAffinity == "":
		errs = append(errs, field.Required(specPath.Child("sessionAffinity"), ""))
	case !supportedSessionAffinity.Has(string(spec.SessionAffinity)):
		errs = append(errs, field.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, sets.List(supportedSessionAffinity)))
	case spec.SessionAffinity == corev1.ServiceAffinityClientIP:
		p := specPath.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds")
		if c := spec.SessionAffinityConfig; c == nil || c.ClientIP == nil || c.ClientIP.TimeoutSeconds == nil {
			errs = append(errs, field.Required(p, "when `sessionAffinity` is ClientIP"))
		} else if t := *c.ClientIP.TimeoutSeconds; t < 1 || t > maxClientIPServiceAffinitySeconds {
			errs = append(errs, field.Invalid(p, t, validation.InclusiveRangeError(1, maxClientIPServiceAffinitySeconds)))
		}
	default:
		if spec.SessionAffinityConfig != nil {
			errs = append(errs, field.Invalid(specPath.Child("sessionAffinityConfig"), spec.SessionAffinityConfig,
				fmt.Sprintf("must not be set when session affinity is %s", spec.SessionAffinity)))
		}
	}

	externallyAccessible := spec.Type == corev1.ServiceTypeLoadBalancer || spec.Type == corev1.ServiceTypeNodePort ||
		(spec.Type == corev1.ServiceTypeClusterIP && len(spec.ExternalIPs) > 0)
	if spec.ExternalTrafficPolicy != "" {
		switch {
		case !externallyAccessible:
			errs = append(errs, field.Invalid(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		case !supportedExternalTrafficPolicy.Has(string(spec.ExternalTrafficPolicy)):
			errs = append(errs, field.NotSupported(specPath.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, sets.List(supportedExternalTrafficPolicy)))
		}
	} else if externallyAccessible {
		errs = append(errs, field.Required(specPath.Child("externalTrafficPolicy"), ""))
	}
	if p := spec.InternalTrafficPolicy; p != nil && !supportedInternalTrafficPolicy.Has(string(*p)) {
		errs = append(errs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *p, sets.List(supportedInternalTrafficPolicy)))
	}
	if p := spec.IPFamilyPolicy; p != nil && !supportedIPFamilyPolicies.Has(string(*p)) {
		errs = append(errs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *p, sets.List(supportedIPFamilyPolicies)))
	}
	for i, f := range spec.IPFamilies {
		if !supportedIPFamilies.Has(string(f)) {
			errs = append(errs, field.NotSupported(specPath.Child("ipFamilies").Index(i), f, sets.List(supportedIPFamilies)))
		}
	}
	if spec.LoadBalancerIP != "" {
		if spec.Type != corev1.ServiceTypeLoadBalancer {
			errs = append(errs, field.Forbidden(specPath.Child("loadBalancerIP"), "may only be used when `type` is 'LoadBalancer'"))
		} else {
			errs = append(errs, validation.IsValidIP(specPath.Child("loadBalancerIP"), spec.LoadBalancerIP)...)
		}
	}
	return errs
}

// validatePort holds the rules Service and Endpoints ports share: a name
// (required when there are several ports, a DNS label, unique among names),
// a valid number and a supported protocol.
func validatePort(name string, port int32, protocol corev1.Protocol, several bool, names sets.Set[string], p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case name == "" && several:
		errs = append(errs, field.Required(p.Child("name"), ""))
	case name != "":
		for _, msg := range validation.IsDNS1123Label(name) {
			errs = append(errs, field.Invalid(p.Child("name"), name, msg))
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		names.Insert(name)
	}
	for _, msg := range validation.IsValidPortNum(int(port)) {
		errs = append(errs, field.Invalid(p.Child("port"), port, msg))
	}
	return append(errs, validateProtocol(protocol, p.Child("protocol"))...)
}

func validateServicePorts(svc *corev1.Service) field.ErrorList {
	var errs field.ErrorList
	spec := &svc.Spec
	portsPath := specPath.Child("ports")
	names := sets.New[string]()
	type portProto struct {
		port  int32
		proto corev1.Protocol
	}
	seen := map[portProto]bool{}
	nodePorts := map[portProto]bool{}
	for i, port := range spec.Ports {
		p := portsPath.Index(i)
		errs = append(errs, validatePort(port.Name, port.Port, port.Protocol, len(spec.Ports) > 1, names, p)...)
		if port.TargetPort.Type == intstr.Int {
			// A zero target port was defaulted to the port; one left zero
			// here means the object skipped defaulting.
			for _, msg := range validation.IsValidPortNum(port.TargetPort.IntValue()) {
				errs = append(errs, field.Invalid(p.Child("targetPort"), port.TargetPort.IntVal, msg))
			}
		} else {
			for _, msg := range validation.IsValidPortName(port.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(p.Child("targetPort"), port.TargetPort.StrVal, msg))
			}
		}
		if port.AppProtocol != nil {
			for _, msg := range validation.IsQualifiedName(*port.AppProtocol) {
				errs = append(errs, field.Invalid(p.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
		key := portProto{port.Port, port.Protocol}
		if seen[key] {
			errs = append(errs, field.Duplicate(p, key))
		}
		seen[key] = true

		if port.NodePort != 0 {
			np := p.Child("nodePort")
			switch {
			case spec.Type == corev1.ServiceTypeClusterIP || spec.Type == corev1.ServiceTypeExternalName:
				errs = append(errs, field.Forbidden(np, fmt.Sprintf("may not be used when `type` is '%s'", spec.Type)))
			case port.NodePort < NodePortMin || port.NodePort > NodePortMax:
				errs = append(errs, field.Invalid(np, port.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", NodePortMin, NodePortMax)))
			}
			nkey := portProto{port.NodePort, port.Protocol}
			if nodePorts[nkey] {
				errs = append(errs, field.Duplicate(np, port.NodePort))
			}
			nodePorts[nkey] = true
		}
	}
	return errs
}

func trimTrailingDot(s string) string {
	if len(s) > 0 && s[len(s)-1] == '.' {
		return s[:len(s)-1]
	}
	return s
}

func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := validateMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	// The cluster IP stays what was allocated, unless the service becomes
	// or stops being an ExternalName one.
	if svc.Spec.Type != corev1.ServiceTypeExternalName && old.Spec.Type != corev1.ServiceTypeExternalName && old.Spec.ClusterIP != "" {
		errs = append(errs, apivalidation.ValidateImmutableField(svc.Spec.ClusterIP, old.Spec.ClusterIP, specPath.Child("clusterIP"))...)
	}
	return append(errs, validateServiceSpec(svc)...)
}

// prepareServiceUpdate keeps the values the server allocated when an update
// leaves them out (kubectl replace, apply of the original manifest), as
// Kubernetes' service REST does: the cluster IPs, and each port's
// nodePort, matched by port and protocol.
func prepareServiceUpdate(svc, old *corev1.Service) {
	needsIP := func(t corev1.ServiceType) bool { return t != corev1.ServiceTypeExternalName }
	if needsIP(svc.Spec.Type) && needsIP(old.Spec.Type) && svc.Spec.ClusterIP == "" && old.Spec.ClusterIP != "" {
		svc.Spec.ClusterIP = old.Spec.ClusterIP
		svc.Spec.ClusterIPs = append([]string(nil), old.Spec.ClusterIPs...)
	}
	needsNodePort := func(t corev1.ServiceType) bool {
		return t == corev1.ServiceTypeNodePort || t == corev1.ServiceTypeLoadBalancer
	}
	if needsNodePort(svc.Spec.Type) && needsNodePort(old.Spec.Type) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort != 0 {
				continue
			}
			for _, op := range old.Spec.Ports {
				if op.Port == p.Port && op.Protocol == p.Protocol {
					p.NodePort = op.NodePort
					break
				}
			}
		}
	}
	if svc.Spec.HealthCheckNodePort == 0 && svc.Spec.Type == corev1.ServiceTypeLoadBalancer &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}
}

func validateServiceStatusUpdate(svc, old *corev1.Service) field.ErrorList {
	errs := validateMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	ingPath := field.NewPath("status", "loadBalancer", "ingress")
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		p := ingPath.Index(i)
		if ing.IP != "" {
			errs = append(errs, validation.IsValidIP(p.Child("ip"), ing.IP)...)
		}
		if ing.Hostname != "" {
			for _, msg := range validation.IsDNS1123Subdomain(ing.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, msg))
			}
		}
	}
	return errs
}
