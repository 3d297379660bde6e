package api

import (
	"net"

	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// EndpointSlice (discovery.k8s.io/v1) and Lease (coordination.k8s.io/v1)
// validation.

// Limits of an EndpointSlice, as Kubernetes enforces them.
const (
	maxEndpointsPerSlice = 1000
	maxPortsPerSlice     = 100
	maxAddressesPerEP    = 100
)

var supportedAddressTypes = sets.New(string(discoveryv1.AddressTypeIPv4), string(discoveryv1.AddressTypeIPv6), string(discoveryv1.AddressTypeFQDN))

func validateEndpointSlice(obj runtime.Object) field.ErrorList {
	es := obj.(*discoveryv1.EndpointSlice)
	errs := validateMeta(&es.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateSliceFields(es)...)
}

func validateSliceFields(es *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	atPath := field.NewPath("addressType")
	switch {
	case es.AddressType == "":
		errs = append(errs, field.Required(atPath, ""))
	case !supportedAddressTypes.Has(string(es.AddressType)):
		errs = append(errs, field.NotSupported(atPath, es.AddressType, sets.List(supportedAddressTypes)))
	}
	errs = append(errs, validateSliceEndpoints(es)...)
	errs = append(errs, validateSlicePorts(es.Ports)...)
	return errs
}

func validateSliceEndpoints(es *discoveryv1.EndpointSlice) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("endpoints")
	if len(es.Endpoints) > maxEndpointsPerSlice {
		errs = append(errs, field.TooMany(path, len(es.Endpoints), maxEndpointsPerSlice))
	}
	for i, ep := range es.Endpoints {
		p := path.Index(i)
		ap := p.Child("addresses")
		switch {
		case len(ep.Addresses) == 0:
			errs = append(errs, field.Required(ap, "must contain at least 1 address"))
		case len(ep.Addresses) > maxAddressesPerEP:
			errs = append(errs, field.TooMany(ap, len(ep.Addresses), maxAddressesPerEP))
		}
		for j, addr := range ep.Addresses {
			errs = append(errs, validateSliceAddress(es.AddressType, addr, ap.Index(j))...)
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(p.Child("hostname"), *ep.Hostname, msg))
			}
		}
		if ep.NodeName != nil {
			for _, msg := range apivalidation.NameIsDNSSubdomain(*ep.NodeName, false) {
				errs = append(errs, field.Invalid(p.Child("nodeName"), *ep.NodeName, msg))
			}
		}
	}
	return errs
}

func validateSliceAddress(t discoveryv1.AddressType, addr string, fldPath *field.Path) field.ErrorList {
	switch t {
	case discoveryv1.AddressTypeIPv4:
		errs := validation.IsValidIP(fldPath, addr)
		if ip := net.ParseIP(addr); len(errs) == 0 && ip.To4() == nil {
			errs = append(errs, field.Invalid(fldPath, addr, "must be an IPv4 address"))
		}
		return errs
	case discoveryv1.AddressTypeIPv6:
		errs := validation.IsValidIP(fldPath, addr)
		if ip := net.ParseIP(addr); len(errs) == 0 && ip.To4() != nil {
			errs = append(errs, field.Invalid(fldPath, addr, "must be an IPv6 address"))
		}
		return errs
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(fldPath, addr)
	}
	return nil
}

func validateSlicePorts(ports []discoveryv1.EndpointPort) field.ErrorList {
	var errs field.ErrorList
	path := field.NewPath("ports")
	if len(ports) > maxPortsPerSlice {
		errs = append(errs, field.TooMany(path, len(ports), maxPortsPerSlice))
	}
	names := sets.New[string]()
	for i, port := range ports {
		p := path.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if name != "" {
			for _, msg := range validation.IsDNS1123Label(name) {
				errs = append(errs, field.Invalid(p.Child("name"), name, msg))
			}
		}
		if names.Has(name) {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		names.Insert(name)
		if port.Port != nil {
			for _, msg := range validation.IsValidPortNum(int(*port.Port)) {
				errs = append(errs, field.Invalid(p.Child("port"), *port.Port, msg))
			}
		}
		if port.Protocol == nil {
			errs = append(errs, field.Required(p.Child("protocol"), ""))
		} else {
			errs = append(errs, validateProtocol(*port.Protocol, p.Child("protocol"))...)
		}
		if port.AppProtocol != nil {
			for _, msg := range validation.IsQualifiedName(*port.AppProtocol) {
				errs = append(errs, field.Invalid(p.Child("appProtocol"), *port.AppProtocol, msg))
			}
		}
	}
	return errs
}

func validateEndpointSliceUpdate(obj, old runtime.Object) field.ErrorList {
	es, o := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	errs := validateMetaUpdate(&es.ObjectMeta, &o.ObjectMeta)
	errs = append(errs, validateSliceFields(es)...)
	return append(errs, apivalidation.ValidateImmutableField(es.AddressType, o.AddressType, field.NewPath("addressType"))...)
}

func validateLease(obj runtime.Object) field.ErrorList {
	l := obj.(*coordinationv1.Lease)
	errs := validateMeta(&l.ObjectMeta, true, apivalidation.NameIsDNSSubdomain)
	return append(errs, validateLeaseSpec(&l.Spec)...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseDurationSeconds"), *spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		errs = append(errs, field.Invalid(specPath.Child("leaseTransitions"), *spec.LeaseTransitions, "must be greater than or equal to 0"))
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}

func validateLeaseUpdate(obj, old runtime.Object) field.ErrorList {
	l, o := obj.(*coordinationv1.Lease), old.(*coordinationv1.Lease)
	errs := validateMetaUpdate(&l.ObjectMeta, &o.ObjectMeta)
	return append(errs, validateLeaseSpec(&l.Spec)...)
}
