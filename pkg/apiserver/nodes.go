package apiserver

import (
	"crypto/tls"
	"fmt"
	"net/http"

	"minik8s/pkg/api"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	certinformers "k8s.io/client-go/informers/certificates/v1"
	resourceinformers "k8s.io/client-go/informers/resource/v1"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/kubernetes/pkg/auth/nodeidentifier"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/plugin/pkg/admission/noderestriction"
	"k8s.io/kubernetes/plugin/pkg/auth/authenticator/token/bootstrap"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/node"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
)

// The node identities, as kube-apiserver has them: an agent joins with
// a bootstrap token (a Secret of type bootstrap.kubernetes.io/token in
// kube-system), then acts as system:node:NAME in system:nodes with the
// client certificate its CertificateSigningRequest got. The Node
// authorizer lets a node reach only the objects its pods use, and
// NodeRestriction admission lets it change only its own Node, Lease and
// pods' status. All three are upstream's packages; this file feeds them
// the server's own API through the loopback informers.

// bootstrapTokenAuthenticator is upstream's bootstrap token
// authenticator on the kube-system Secrets of the loopback informer.
func (s *Server) bootstrapTokenAuthenticator() authenticator.Request {
	return bearertoken.New(bootstrap.NewTokenAuthenticator(s.loopback.bootstrapSecrets()))
}

// newNodeAuthorizer is upstream's Node authorizer: a graph of the pods
// bound to each node and of what they reference (Secrets, ConfigMaps,
// PVCs, ServiceAccounts, PVs, VolumeAttachments, ResourceSlices), fed by
// the loopback informers, and the static system:node rules for the rest.
func (s *Server) newNodeAuthorizer() authorizer.Authorizer {
	f := s.loopback.factory
	var slices resourceinformers.ResourceSliceInformer
	if utilfeature.DefaultFeatureGate.Enabled(features.DynamicResourceAllocation) {
		slices = f.Resource().V1().ResourceSlices()
	}
	var pcrs certinformers.PodCertificateRequestInformer
	if utilfeature.DefaultFeatureGate.Enabled(features.PodCertificateRequest) {
		pcrs = f.Certificates().V1().PodCertificateRequests()
	}
	graph := node.NewGraph()
	node.AddGraphEventHandlers(graph, f.Core().V1().Nodes(), f.Core().V1().Pods(), f.Core().V1().PersistentVolumes(),
		f.Storage().V1().VolumeAttachments(), slices, pcrs)
	return node.NewAuthorizer(graph, nodeidentifier.NewDefaultNodeIdentifier(), bootstrappolicy.NodeRules())
}

// nodeRestriction is upstream's NodeRestriction admission plugin run on
// the internal version of the objects, with its listers on the loopback
// informers. It refuses, in upstream's words, what a node does to
// objects that are not its own; other users pass untouched.
type nodeRestriction struct {
	plugin *noderestriction.Plugin
}

func newNodeRestriction(l *loopback) (*nodeRestriction, error) {
	p := noderestriction.NewPlugin(nodeidentifier.NewDefaultNodeIdentifier())
	p.InspectFeatureGates(utilfeature.DefaultFeatureGate)
	p.SetExternalKubeInformerFactory(l.factory)
	return &nodeRestriction{plugin: p}, nil
}

// setAuthorizer gives the plugin the server's authorizer (it asks
// whether a node may request a token for an audience); the chain is
// built after the admission plugins.
func (n *nodeRestriction) setAuthorizer(a authorizer.Authorizer) error {
	n.plugin.SetUnconditionalAuthorizer(a)
	if err := n.plugin.ValidateInitialization(); err != nil {
		return fmt.Errorf("admission plugin %s: %w", noderestriction.PluginName, err)
	}
	return nil
}

// nodeRestrictedResources are the resources the plugin has rules for.
var nodeRestrictedResources = map[schema.GroupResource]bool{
	{Resource: "pods"}:                                                     true,
	{Resource: "nodes"}:                                                    true,
	{Resource: "persistentvolumeclaims"}:                                   true,
	{Resource: "serviceaccounts"}:                                          true,
	{Group: "coordination.k8s.io", Resource: "leases"}:                     true,
	{Group: "storage.k8s.io", Resource: "csinodes"}:                        true,
	{Group: "resource.k8s.io", Resource: "resourceslices"}:                 true,
	{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}: true,
	{Group: "certificates.k8s.io", Resource: "podcertificaterequests"}:     true,
}

func (*nodeRestriction) handles(gr schema.GroupResource) bool { return nodeRestrictedResources[gr] }

func (n *nodeRestriction) admitCreate(k *call, obj runtime.Object) (func(), error) {
	return nil, n.admit(k, obj, nil, admission.Create, &metav1.CreateOptions{})
}

func (n *nodeRestriction) admitUpdate(k *call, obj, cur runtime.Object) error {
	return n.admit(k, obj, cur, admission.Update, &metav1.UpdateOptions{})
}

func (n *nodeRestriction) admitStatusUpdate(k *call, obj, cur runtime.Object) error {
	return n.admit(k, obj, cur, admission.Update, &metav1.UpdateOptions{})
}

func (n *nodeRestriction) admitDelete(k *call, cur runtime.Object) error {
	return n.admit(k, nil, cur, admission.Delete, &metav1.DeleteOptions{})
}

func (n *nodeRestriction) admitSubresourceCreate(k *call, obj runtime.Object) error {
	return n.admit(k, obj, nil, admission.Create, &metav1.CreateOptions{})
}

// admit runs the plugin on the internal forms of obj and old (either may
// be nil). Only nodes are looked at: everyone else skips the conversion.
func (n *nodeRestriction) admit(k *call, obj, old runtime.Object, op admission.Operation, opts runtime.Object) error {
	u, ok := request.UserFrom(k.ctx())
	if !ok {
		return nil
	}
	if _, isNode := nodeidentifier.NewDefaultNodeIdentifier().NodeIdentity(u); !isNode {
		return nil
	}
	var in, oldIn runtime.Object
	var err error
	kind := k.r.GroupVersionKind()
	if obj != nil {
		if in, err = api.Internal(obj); err != nil {
			return err
		}
		if gvks, _, err := api.Scheme.ObjectKinds(obj); err == nil {
			kind = gvks[0]
		}
	}
	if old != nil {
		if oldIn, err = api.Internal(old); err != nil {
			return err
		}
	}
	name, sub := k.name, ""
	if k.info != nil {
		sub = k.info.Subresource
	}
	if name == "" && obj != nil {
		if m, err := meta.Accessor(obj); err == nil {
			name = m.GetName()
		}
	}
	attrs := admission.NewAttributesRecord(in, oldIn, kind, k.ns, name, k.r.GroupVersionResource(), sub, op, opts, k.dryRun(), u)
	return n.plugin.Admit(k.ctx(), attrs, nil)
}

// kubeletTransport is how the apiserver reaches the agents: with
// --kubelet-client-certificate, over TLS showing that certificate (the
// agents authorize it with a SubjectAccessReview on nodes/proxy, …),
// checking the agents' serving certificates against
// --kubelet-certificate-authority when given; otherwise plain HTTP.
func kubeletTransport(cfg *Config) (http.RoundTripper, bool, error) {
	if cfg.KubeletClientCertificate == "" {
		return http.DefaultTransport, false, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.KubeletClientCertificate, cfg.KubeletClientKey)
	if err != nil {
		return nil, false, fmt.Errorf("--kubelet-client-certificate/--kubelet-client-key: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.KubeletCertificateAuthority != "" {
		pool, err := certutil.NewPool(cfg.KubeletCertificateAuthority)
		if err != nil {
			return nil, false, fmt.Errorf("--kubelet-certificate-authority: %w", err)
		}
		tc.RootCAs = pool
	} else {
		tc.InsecureSkipVerify = true
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.TLSClientConfig = tc
	return t, true, nil
}

// nodeAgentPolicy is what the agent needs beyond the Node authorizer:
// it embeds what Kubernetes runs under other identities — kube-proxy
// (system:kube-proxy, bound to system:node-proxier: Services and
// EndpointSlices), the pod-network routes a CNI daemon keeps (every
// Node's podCIDR) and the LoadBalancer announcer (the node Leases, and
// its name recorded on the Service it announces). The bootstrap RBAC
// reconciliation keeps them with Kubernetes' own policy.
func nodeAgentPolicy() (*rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *rbacv1.Role, *rbacv1.RoleBinding) {
	const name = "system:minik8s:node-agent"
	nodes := rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: user.NodesGroup}
	cr := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{
			{Verbs: []string{"list", "watch"}, APIGroups: []string{""}, Resources: []string{"nodes"}},
			{Verbs: []string{"list", "watch"}, APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}},
			{Verbs: []string{"patch"}, APIGroups: []string{""}, Resources: []string{"services"}},
		},
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{nodes},
	}
	r := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}}},
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{nodes},
	}
	return cr, crb, r, rb
}
