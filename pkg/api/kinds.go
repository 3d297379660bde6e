package api

import (
	"context"
	"fmt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"slices"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	storagemigrationv1 "k8s.io/api/storagemigration/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/registry/rest"
	certificatesapi "k8s.io/kubernetes/pkg/apis/certificates"
	"k8s.io/kubernetes/pkg/registry/admissionregistration/mutatingadmissionpolicy"
	"k8s.io/kubernetes/pkg/registry/admissionregistration/mutatingadmissionpolicybinding"
	"k8s.io/kubernetes/pkg/registry/admissionregistration/mutatingwebhookconfiguration"
	"k8s.io/kubernetes/pkg/registry/admissionregistration/validatingadmissionpolicy"
	"k8s.io/kubernetes/pkg/registry/admissionregistration/validatingadmissionpolicybinding"
	"k8s.io/kubernetes/pkg/registry/admissionregistration/validatingwebhookconfiguration"
	"k8s.io/kubernetes/pkg/registry/apps/controllerrevision"
	"k8s.io/kubernetes/pkg/registry/apps/daemonset"
	"k8s.io/kubernetes/pkg/registry/apps/statefulset"
	"k8s.io/kubernetes/pkg/registry/autoscaling/horizontalpodautoscaler"
	"k8s.io/kubernetes/pkg/registry/batch/cronjob"
	"k8s.io/kubernetes/pkg/registry/batch/job"
	"k8s.io/kubernetes/pkg/registry/certificates/certificates"
	"k8s.io/kubernetes/pkg/registry/certificates/clustertrustbundle"
	"k8s.io/kubernetes/pkg/registry/certificates/podcertificaterequest"
	"k8s.io/kubernetes/pkg/registry/core/configmap"
	"k8s.io/kubernetes/pkg/registry/core/limitrange"
	"k8s.io/kubernetes/pkg/registry/core/persistentvolume"
	"k8s.io/kubernetes/pkg/registry/core/persistentvolumeclaim"
	"k8s.io/kubernetes/pkg/registry/core/podtemplate"
	"k8s.io/kubernetes/pkg/registry/core/replicationcontroller"
	"k8s.io/kubernetes/pkg/registry/core/resourcequota"
	"k8s.io/kubernetes/pkg/registry/core/secret"
	"k8s.io/kubernetes/pkg/registry/core/serviceaccount"
	"k8s.io/kubernetes/pkg/registry/flowcontrol/flowschema"
	"k8s.io/kubernetes/pkg/registry/flowcontrol/prioritylevelconfiguration"
	"k8s.io/kubernetes/pkg/registry/networking/ingress"
	"k8s.io/kubernetes/pkg/registry/networking/ingressclass"
	"k8s.io/kubernetes/pkg/registry/networking/ipaddress"
	"k8s.io/kubernetes/pkg/registry/networking/networkpolicy"
	"k8s.io/kubernetes/pkg/registry/networking/servicecidr"
	"k8s.io/kubernetes/pkg/registry/node/runtimeclass"
	"k8s.io/kubernetes/pkg/registry/policy/poddisruptionbudget"
	"k8s.io/kubernetes/pkg/registry/rbac/clusterrole"
	"k8s.io/kubernetes/pkg/registry/rbac/clusterrolebinding"
	"k8s.io/kubernetes/pkg/registry/rbac/role"
	"k8s.io/kubernetes/pkg/registry/rbac/rolebinding"
	"k8s.io/kubernetes/pkg/registry/resource/deviceclass"
	"k8s.io/kubernetes/pkg/registry/resource/devicetaintrule"
	"k8s.io/kubernetes/pkg/registry/resource/resourceclaim"
	"k8s.io/kubernetes/pkg/registry/resource/resourceclaimtemplate"
	"k8s.io/kubernetes/pkg/registry/resource/resourceslice"
	"k8s.io/kubernetes/pkg/registry/scheduling/priorityclass"
	"k8s.io/kubernetes/pkg/registry/storage/csidriver"
	"k8s.io/kubernetes/pkg/registry/storage/csinode"
	"k8s.io/kubernetes/pkg/registry/storage/csistoragecapacity"
	"k8s.io/kubernetes/pkg/registry/storage/storageclass"
	"k8s.io/kubernetes/pkg/registry/storage/volumeattachment"
	"k8s.io/kubernetes/pkg/registry/storage/volumeattributesclass"
	"k8s.io/kubernetes/pkg/registry/storagemigration/storagemigration"
	"k8s.io/utils/clock"
)

// builtin describes a kind served with Kubernetes' own strategy (see
// upstream): the table entry is derived from it.
type builtin struct {
	gv         schema.GroupVersion
	kind       string
	short      []string
	categories []string
	namespaced bool
	subs       []string
	newObj     func() runtime.Object
	newList    func() runtime.Object
	strategy   upstreamStrategy
	status     rest.RESTUpdateStrategy
	getAttrs   func(runtime.Object) (labels.Set, fields.Set, error)
	// statusLike are subresources written like status with their own
	// upstream update strategy (Resource.StatusLike).
	statusLike map[string]rest.RESTUpdateStrategy
	// virtual kinds are create-only and never stored (Resource.Virtual).
	virtual bool
}

func (b builtin) resource() *Resource {
	plural, _ := meta.UnsafeGuessKindToResource(b.gv.WithKind(b.kind))
	if b.virtual {
		return &Resource{
			Group: b.gv.Group, Version: b.gv.Version, Kind: b.kind,
			Plural: plural.Resource, Singular: strings.ToLower(b.kind), Namespaced: b.namespaced,
			Verbs: []string{"create"}, New: b.newObj, Virtual: true,
		}
	}
	subs := b.subs
	if b.status != nil && !slices.Contains(subs, "status") {
		subs = append([]string{"status"}, subs...)
	}
	r := &Resource{
		Group: b.gv.Group, Version: b.gv.Version, Kind: b.kind, ListKind: b.kind + "List",
		Plural: plural.Resource, Singular: strings.ToLower(b.kind), ShortNames: b.short, Categories: b.categories,
		Namespaced: b.namespaced, Subresources: subs, Verbs: verbsAll,
		New: b.newObj, NewList: b.newList,
		Strategy: fromUpstream(b.gv.WithKind(b.kind), b.strategy, b.status, b.getAttrs),
	}
	for sub, st := range b.statusLike {
		if r.StatusLike == nil {
			r.StatusLike = map[string]Strategy{}
		}
		r.StatusLike[sub] = fromUpstream(b.gv.WithKind(b.kind), b.strategy, st, b.getAttrs)
		r.Subresources = append(r.Subresources, sub)
	}
	return r
}

var (
	all           = []string{"all"}
	apiExtensions = []string{"api-extensions"}
	vapStrategy   = validatingadmissionpolicy.NewStrategy(nil, tableResolver{})
)

// builtins are the kinds beyond the ten with strategies of their own, in
// discovery order within each group/version.
var builtins = []builtin{
	// core/v1
	{gv: corev1.SchemeGroupVersion, kind: "ConfigMap", short: []string{"cm"}, namespaced: true,
		newObj: func() runtime.Object { return &corev1.ConfigMap{} }, newList: func() runtime.Object { return &corev1.ConfigMapList{} },
		strategy: configmap.Strategy, getAttrs: configmap.GetAttrs},
	{gv: corev1.SchemeGroupVersion, kind: "Secret", namespaced: true,
		newObj: func() runtime.Object { return &corev1.Secret{} }, newList: func() runtime.Object { return &corev1.SecretList{} },
		strategy: secret.Strategy, getAttrs: secret.GetAttrs},
	{gv: corev1.SchemeGroupVersion, kind: "ServiceAccount", short: []string{"sa"}, namespaced: true, subs: []string{"token"},
		newObj: func() runtime.Object { return &corev1.ServiceAccount{} }, newList: func() runtime.Object { return &corev1.ServiceAccountList{} },
		strategy: serviceaccount.Strategy},
	{gv: corev1.SchemeGroupVersion, kind: "PersistentVolume", short: []string{"pv"},
		newObj: func() runtime.Object { return &corev1.PersistentVolume{} }, newList: func() runtime.Object { return &corev1.PersistentVolumeList{} },
		strategy: persistentvolume.Strategy, status: persistentvolume.StatusStrategy, getAttrs: persistentvolume.GetAttrs},
	{gv: corev1.SchemeGroupVersion, kind: "PersistentVolumeClaim", short: []string{"pvc"}, namespaced: true,
		newObj: func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, newList: func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		strategy: persistentvolumeclaim.Strategy, status: persistentvolumeclaim.StatusStrategy, getAttrs: persistentvolumeclaim.GetAttrs},
	{gv: corev1.SchemeGroupVersion, kind: "ReplicationController", short: []string{"rc"}, categories: all, namespaced: true, subs: []string{"scale"},
		newObj: func() runtime.Object { return &corev1.ReplicationController{} }, newList: func() runtime.Object { return &corev1.ReplicationControllerList{} },
		strategy: replicationcontroller.Strategy, status: replicationcontroller.StatusStrategy, getAttrs: replicationcontroller.GetAttrs},
	{gv: corev1.SchemeGroupVersion, kind: "ResourceQuota", short: []string{"quota"}, namespaced: true,
		newObj: func() runtime.Object { return &corev1.ResourceQuota{} }, newList: func() runtime.Object { return &corev1.ResourceQuotaList{} },
		strategy: resourcequota.Strategy, status: resourcequota.StatusStrategy},
	{gv: corev1.SchemeGroupVersion, kind: "LimitRange", short: []string{"limits"}, namespaced: true,
		newObj: func() runtime.Object { return &corev1.LimitRange{} }, newList: func() runtime.Object { return &corev1.LimitRangeList{} },
		strategy: limitrange.Strategy},
	{gv: corev1.SchemeGroupVersion, kind: "PodTemplate", namespaced: true,
		newObj: func() runtime.Object { return &corev1.PodTemplate{} }, newList: func() runtime.Object { return &corev1.PodTemplateList{} },
		strategy: podtemplate.Strategy},

	// apps/v1
	{gv: appsv1.SchemeGroupVersion, kind: "StatefulSet", short: []string{"sts"}, categories: all, namespaced: true, subs: []string{"scale"},
		newObj: func() runtime.Object { return &appsv1.StatefulSet{} }, newList: func() runtime.Object { return &appsv1.StatefulSetList{} },
		strategy: statefulset.Strategy, status: statefulset.StatusStrategy},
	{gv: appsv1.SchemeGroupVersion, kind: "DaemonSet", short: []string{"ds"}, categories: all, namespaced: true,
		newObj: func() runtime.Object { return &appsv1.DaemonSet{} }, newList: func() runtime.Object { return &appsv1.DaemonSetList{} },
		strategy: daemonset.Strategy, status: daemonset.StatusStrategy},
	{gv: appsv1.SchemeGroupVersion, kind: "ControllerRevision", namespaced: true,
		newObj: func() runtime.Object { return &appsv1.ControllerRevision{} }, newList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		strategy: controllerrevision.Strategy},

	// authentication.k8s.io/v1: reviews, answered and never stored.
	{gv: authenticationv1.SchemeGroupVersion, kind: "SelfSubjectReview", virtual: true,
		newObj: func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }},
	{gv: authenticationv1.SchemeGroupVersion, kind: "TokenReview", virtual: true,
		newObj: func() runtime.Object { return &authenticationv1.TokenReview{} }},
	// authorization.k8s.io/v1: access reviews, answered and never stored.
	{gv: authorizationv1.SchemeGroupVersion, kind: "SelfSubjectAccessReview", virtual: true,
		newObj: func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }},
	{gv: authorizationv1.SchemeGroupVersion, kind: "SelfSubjectRulesReview", virtual: true,
		newObj: func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }},
	{gv: authorizationv1.SchemeGroupVersion, kind: "SubjectAccessReview", virtual: true,
		newObj: func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }},
	{gv: authorizationv1.SchemeGroupVersion, kind: "LocalSubjectAccessReview", virtual: true, namespaced: true,
		newObj: func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }},
	// batch/v1
	{gv: batchv1.SchemeGroupVersion, kind: "Job", categories: all, namespaced: true,
		newObj: func() runtime.Object { return &batchv1.Job{} }, newList: func() runtime.Object { return &batchv1.JobList{} },
		strategy: job.Strategy, status: job.StatusStrategy, getAttrs: job.GetAttrs},
	{gv: batchv1.SchemeGroupVersion, kind: "CronJob", short: []string{"cj"}, categories: all, namespaced: true,
		newObj: func() runtime.Object { return &batchv1.CronJob{} }, newList: func() runtime.Object { return &batchv1.CronJobList{} },
		strategy: cronjob.Strategy, status: cronjob.StatusStrategy},

	// autoscaling/v2
	{gv: autoscalingv2.SchemeGroupVersion, kind: "HorizontalPodAutoscaler", short: []string{"hpa"}, categories: all, namespaced: true,
		newObj: func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }, newList: func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		strategy: horizontalpodautoscaler.Strategy, status: horizontalpodautoscaler.StatusStrategy},

	// policy/v1
	{gv: policyv1.SchemeGroupVersion, kind: "PodDisruptionBudget", short: []string{"pdb"}, namespaced: true,
		newObj: func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, newList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		strategy: poddisruptionbudget.Strategy, status: poddisruptionbudget.StatusStrategy},

	// networking.k8s.io/v1
	{gv: networkingv1.SchemeGroupVersion, kind: "NetworkPolicy", short: []string{"netpol"}, namespaced: true,
		newObj: func() runtime.Object { return &networkingv1.NetworkPolicy{} }, newList: func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
		strategy: networkpolicy.Strategy},
	{gv: networkingv1.SchemeGroupVersion, kind: "Ingress", short: []string{"ing"}, namespaced: true,
		newObj: func() runtime.Object { return &networkingv1.Ingress{} }, newList: func() runtime.Object { return &networkingv1.IngressList{} },
		strategy: ingress.Strategy, status: ingress.StatusStrategy},
	{gv: networkingv1.SchemeGroupVersion, kind: "IngressClass",
		newObj: func() runtime.Object { return &networkingv1.IngressClass{} }, newList: func() runtime.Object { return &networkingv1.IngressClassList{} },
		strategy: ingressclass.Strategy},
	{gv: networkingv1.SchemeGroupVersion, kind: "IPAddress",
		newObj: func() runtime.Object { return &networkingv1.IPAddress{} }, newList: func() runtime.Object { return &networkingv1.IPAddressList{} },
		strategy: ipaddress.Strategy},
	{gv: networkingv1.SchemeGroupVersion, kind: "ServiceCIDR",
		newObj: func() runtime.Object { return &networkingv1.ServiceCIDR{} }, newList: func() runtime.Object { return &networkingv1.ServiceCIDRList{} },
		strategy: servicecidr.Strategy, status: servicecidr.StatusStrategy},

	// rbac.authorization.k8s.io/v1
	{gv: rbacv1.SchemeGroupVersion, kind: "ClusterRole",
		newObj: func() runtime.Object { return &rbacv1.ClusterRole{} }, newList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		strategy: clusterrole.Strategy},
	{gv: rbacv1.SchemeGroupVersion, kind: "ClusterRoleBinding",
		newObj: func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, newList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
		strategy: clusterrolebinding.Strategy},
	{gv: rbacv1.SchemeGroupVersion, kind: "Role", namespaced: true,
		newObj: func() runtime.Object { return &rbacv1.Role{} }, newList: func() runtime.Object { return &rbacv1.RoleList{} },
		strategy: role.Strategy},
	{gv: rbacv1.SchemeGroupVersion, kind: "RoleBinding", namespaced: true,
		newObj: func() runtime.Object { return &rbacv1.RoleBinding{} }, newList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
		strategy: rolebinding.Strategy},

	// storage.k8s.io/v1
	{gv: storagev1.SchemeGroupVersion, kind: "StorageClass", short: []string{"sc"},
		newObj: func() runtime.Object { return &storagev1.StorageClass{} }, newList: func() runtime.Object { return &storagev1.StorageClassList{} },
		strategy: storageclass.Strategy},
	{gv: storagev1.SchemeGroupVersion, kind: "CSIDriver",
		newObj: func() runtime.Object { return &storagev1.CSIDriver{} }, newList: func() runtime.Object { return &storagev1.CSIDriverList{} },
		strategy: csidriver.Strategy},
	{gv: storagev1.SchemeGroupVersion, kind: "CSINode",
		newObj: func() runtime.Object { return &storagev1.CSINode{} }, newList: func() runtime.Object { return &storagev1.CSINodeList{} },
		strategy: csinode.Strategy, status: csinode.StatusStrategy},
	{gv: storagev1.SchemeGroupVersion, kind: "CSIStorageCapacity", namespaced: true,
		newObj: func() runtime.Object { return &storagev1.CSIStorageCapacity{} }, newList: func() runtime.Object { return &storagev1.CSIStorageCapacityList{} },
		strategy: csistoragecapacity.Strategy},
	{gv: storagev1.SchemeGroupVersion, kind: "VolumeAttachment",
		newObj: func() runtime.Object { return &storagev1.VolumeAttachment{} }, newList: func() runtime.Object { return &storagev1.VolumeAttachmentList{} },
		strategy: volumeattachment.Strategy, status: volumeattachment.StatusStrategy},
	{gv: storagev1.SchemeGroupVersion, kind: "VolumeAttributesClass",
		newObj: func() runtime.Object { return &storagev1.VolumeAttributesClass{} }, newList: func() runtime.Object { return &storagev1.VolumeAttributesClassList{} },
		strategy: volumeattributesclass.Strategy},

	// storagemigration.k8s.io/v1
	{gv: storagemigrationv1.SchemeGroupVersion, kind: "StorageVersionMigration",
		newObj: func() runtime.Object { return &storagemigrationv1.StorageVersionMigration{} }, newList: func() runtime.Object { return &storagemigrationv1.StorageVersionMigrationList{} },
		strategy: storagemigration.Strategy, status: storagemigration.StatusStrategy},

	// flowcontrol.apiserver.k8s.io/v1: API Priority and Fairness objects,
	// stored and validated; the apiserver does not queue by them.
	{gv: flowcontrolv1.SchemeGroupVersion, kind: "FlowSchema",
		newObj: func() runtime.Object { return &flowcontrolv1.FlowSchema{} }, newList: func() runtime.Object { return &flowcontrolv1.FlowSchemaList{} },
		strategy: flowschema.Strategy, status: flowschema.StatusStrategy},
	{gv: flowcontrolv1.SchemeGroupVersion, kind: "PriorityLevelConfiguration",
		newObj: func() runtime.Object { return &flowcontrolv1.PriorityLevelConfiguration{} }, newList: func() runtime.Object { return &flowcontrolv1.PriorityLevelConfigurationList{} },
		strategy: prioritylevelconfiguration.Strategy, status: prioritylevelconfiguration.StatusStrategy},

	// scheduling.k8s.io/v1
	{gv: schedulingv1.SchemeGroupVersion, kind: "PriorityClass", short: []string{"pc"},
		newObj: func() runtime.Object { return &schedulingv1.PriorityClass{} }, newList: func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		strategy: priorityclass.Strategy},

	// node.k8s.io/v1
	{gv: nodev1.SchemeGroupVersion, kind: "RuntimeClass",
		newObj: func() runtime.Object { return &nodev1.RuntimeClass{} }, newList: func() runtime.Object { return &nodev1.RuntimeClassList{} },
		strategy: runtimeclass.Strategy},

	// certificates.k8s.io/v1
	{gv: certificatesv1.SchemeGroupVersion, kind: "CertificateSigningRequest", short: []string{"csr"}, statusLike: map[string]rest.RESTUpdateStrategy{"approval": certificates.ApprovalStrategy},
		newObj: func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} }, newList: func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		strategy: certificates.Strategy, status: certificates.StatusStrategy, getAttrs: certificates.GetAttrs},
	{gv: certificatesv1.SchemeGroupVersion, kind: "ClusterTrustBundle",
		newObj: func() runtime.Object { return &certificatesv1.ClusterTrustBundle{} }, newList: func() runtime.Object { return &certificatesv1.ClusterTrustBundleList{} },
		strategy: clustertrustbundle.Strategy, getAttrs: clusterTrustBundleAttrs},
	{gv: certificatesv1.SchemeGroupVersion, kind: "PodCertificateRequest", namespaced: true,
		newObj: func() runtime.Object { return &certificatesv1.PodCertificateRequest{} }, newList: func() runtime.Object { return &certificatesv1.PodCertificateRequestList{} },
		strategy: podCertificateRequests, status: podcertificaterequest.NewStatusStrategy(podCertificateRequests, authorizerfactory.NewAlwaysAllowAuthorizer(), clock.RealClock{}),
		getAttrs: podCertificateRequestAttrs},

	// admissionregistration.k8s.io/v1: stored and validated, not enforced.
	{gv: admissionregistrationv1.SchemeGroupVersion, kind: "MutatingWebhookConfiguration", categories: apiExtensions,
		newObj: func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfiguration{} }, newList: func() runtime.Object { return &admissionregistrationv1.MutatingWebhookConfigurationList{} },
		strategy: mutatingwebhookconfiguration.Strategy},
	{gv: admissionregistrationv1.SchemeGroupVersion, kind: "MutatingAdmissionPolicy", categories: apiExtensions,
		newObj: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicy{} }, newList: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyList{} },
		strategy: mutatingadmissionpolicy.NewStrategy(nil, tableResolver{})},
	{gv: admissionregistrationv1.SchemeGroupVersion, kind: "MutatingAdmissionPolicyBinding", categories: apiExtensions,
		newObj: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBinding{} }, newList: func() runtime.Object { return &admissionregistrationv1.MutatingAdmissionPolicyBindingList{} },
		strategy: mutatingadmissionpolicybinding.NewStrategy(nil, nil, tableResolver{})},
	{gv: admissionregistrationv1.SchemeGroupVersion, kind: "ValidatingAdmissionPolicy", categories: apiExtensions,
		newObj: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicy{} }, newList: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyList{} },
		strategy: vapStrategy, status: validatingadmissionpolicy.NewStatusStrategy(vapStrategy)},
	{gv: admissionregistrationv1.SchemeGroupVersion, kind: "ValidatingAdmissionPolicyBinding", categories: apiExtensions,
		newObj: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBinding{} }, newList: func() runtime.Object { return &admissionregistrationv1.ValidatingAdmissionPolicyBindingList{} },
		strategy: validatingadmissionpolicybinding.NewStrategy(nil, nil, tableResolver{})},
	{gv: admissionregistrationv1.SchemeGroupVersion, kind: "ValidatingWebhookConfiguration", categories: apiExtensions,
		newObj: func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfiguration{} }, newList: func() runtime.Object { return &admissionregistrationv1.ValidatingWebhookConfigurationList{} },
		strategy: validatingwebhookconfiguration.Strategy},

	// resource.k8s.io/v1, listed by kube-scheduler.
	{gv: resourcev1.SchemeGroupVersion, kind: "DeviceClass",
		newObj: func() runtime.Object { return &resourcev1.DeviceClass{} }, newList: func() runtime.Object { return &resourcev1.DeviceClassList{} },
		strategy: deviceclass.Strategy},
	{gv: resourcev1.SchemeGroupVersion, kind: "DeviceTaintRule",
		newObj: func() runtime.Object { return &resourcev1.DeviceTaintRule{} }, newList: func() runtime.Object { return &resourcev1.DeviceTaintRuleList{} },
		strategy: devicetaintrule.Strategy, status: devicetaintrule.StatusStrategy},
	{gv: resourcev1.SchemeGroupVersion, kind: "ResourceClaim", namespaced: true,
		newObj: func() runtime.Object { return &resourcev1.ResourceClaim{} }, newList: func() runtime.Object { return &resourcev1.ResourceClaimList{} },
		strategy: resourceClaims, status: resourceclaim.NewStatusStrategy(resourceClaims), getAttrs: resourceclaim.GetAttrs},
	{gv: resourcev1.SchemeGroupVersion, kind: "ResourceClaimTemplate", namespaced: true,
		newObj: func() runtime.Object { return &resourcev1.ResourceClaimTemplate{} }, newList: func() runtime.Object { return &resourcev1.ResourceClaimTemplateList{} },
		strategy: resourceclaimtemplate.NewStrategy(namespaces), getAttrs: resourceclaimtemplate.GetAttrs},
	{gv: resourcev1.SchemeGroupVersion, kind: "ResourceSlice",
		newObj: func() runtime.Object { return &resourcev1.ResourceSlice{} }, newList: func() runtime.Object { return &resourcev1.ResourceSliceList{} },
		strategy: resourceslice.Strategy, getAttrs: resourceslice.GetAttrs},
}

var (
	resourceClaims = resourceclaim.NewStrategy(namespaces, requestAuthorizer{})
	// Until the API has authorization, every signer may be named.
	podCertificateRequests = podcertificaterequest.NewStrategy()
)

// clusterTrustBundleAttrs are upstream's selectable fields of a
// ClusterTrustBundle (its storage's getAttrs): metadata.name and
// spec.signerName.
func clusterTrustBundleAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	b, ok := obj.(*certificatesapi.ClusterTrustBundle)
	if !ok {
		return nil, nil, fmt.Errorf("not a clustertrustbundle: %T", obj)
	}
	return labels.Set(b.Labels), fields.Set{"metadata.name": b.Name, "spec.signerName": b.Spec.SignerName}, nil
}

// podCertificateRequestAttrs are the field selectors of upstream's
// podcertificaterequest storage (unexported there): the kubelet lists its
// node's requests by spec.nodeName (the Node authorizer allows nothing
// else), signers theirs by spec.signerName.
func podCertificateRequestAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	r, ok := obj.(*certificatesapi.PodCertificateRequest)
	if !ok {
		return nil, nil, fmt.Errorf("not a podcertificaterequest: %T", obj)
	}
	return labels.Set(r.Labels), fields.Set{"metadata.name": r.Name, "metadata.namespace": r.Namespace,
		"spec.signerName": r.Spec.SignerName, "spec.podName": r.Spec.PodName, "spec.nodeName": string(r.Spec.NodeName)}, nil
}

// NamespaceGetter reads a namespace for the upstream strategies that look
// one up (resource.k8s.io's admin-access check).
type NamespaceGetter func(ctx context.Context, name string) (*corev1.Namespace, error)

type namespaceGetterKey struct{}

// WithNamespaceGetter gives the strategies run under ctx a way to read
// namespaces.
func WithNamespaceGetter(ctx context.Context, get NamespaceGetter) context.Context {
	return context.WithValue(ctx, namespaceGetterKey{}, get)
}

// namespaceReader is the NamespaceInterface upstream strategies are
// given: only Get, through the request's NamespaceGetter.
type namespaceReader struct {
	corev1client.NamespaceInterface
}

var namespaces = namespaceReader{}

func (namespaceReader) Get(ctx context.Context, name string, _ metav1.GetOptions) (*corev1.Namespace, error) {
	get, ok := ctx.Value(namespaceGetterKey{}).(NamespaceGetter)
	if !ok {
		return nil, apierrors.NewNotFound(corev1.Resource("namespaces"), name)
	}
	return get(ctx, name)
}

type authorizerKey struct{}

// WithAuthorizer gives the strategies run under ctx the server's
// authorizer: a ResourceClaim's status strategy asks it, as upstream's
// does, whether the requester may write status.allocation and
// status.reservedFor (resourceclaims/binding) and status.devices
// (resourceclaims/driver).
func WithAuthorizer(ctx context.Context, a authorizer.Authorizer) context.Context {
	return context.WithValue(ctx, authorizerKey{}, a)
}

// requestAuthorizer is the authorizer upstream strategies are given: the
// request's, from WithAuthorizer. Without one nothing is allowed.
type requestAuthorizer struct{}

func (requestAuthorizer) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	authz, ok := ctx.Value(authorizerKey{}).(authorizer.Authorizer)
	if !ok || authz == nil {
		return authorizer.DecisionNoOpinion, "no authorizer for this request", nil
	}
	return authz.Authorize(ctx, a)
}

// tableResolver finds a kind's resource in the table, for the admission
// policy strategies that check a paramKind.
type tableResolver struct{}

func (tableResolver) Resolve(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	r, ok := LookupKind(gvk)
	if !ok {
		return schema.GroupVersionResource{}, fmt.Errorf("no resource serves %s", gvk)
	}
	return r.GroupVersionResource(), nil
}
