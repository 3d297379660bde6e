package bootstraptoken

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

// DefaultGroup is the extra group of the tokens agents join with
// (kubeadm's system:bootstrappers:kubeadm:default-node-token).
const DefaultGroup = "system:bootstrappers:minik8s:default-node-token"

// Options are a token's properties, kubeadm's `token create` flags.
type Options struct {
	// TTL is how long the token is valid; 0: forever.
	TTL         time.Duration
	Description string
	Usages      []string
	Groups      []string
}

// DefaultOptions are kubeadm's: a day, for signing and authentication,
// in DefaultGroup.
func DefaultOptions() Options {
	return Options{TTL: 24 * time.Hour, Usages: []string{"signing", "authentication"}, Groups: []string{DefaultGroup}}
}

// ErrExists is returned by Create for a token id already stored.
var ErrExists = fmt.Errorf("a bootstrap token with this id already exists")

// Create stores token (generated when empty) with opts, after making
// sure Bindings exist, and returns it.
func Create(ctx context.Context, cs kubernetes.Interface, token string, opts Options) (string, error) {
	if token == "" {
		var err error
		if token, err = bootstraputil.GenerateBootstrapToken(); err != nil {
			return "", err
		}
	}
	if !bootstraputil.IsValidBootstrapToken(token) {
		return "", fmt.Errorf("token %q is not of the form %q", token, bootstrapapi.BootstrapTokenPattern)
	}
	if err := bootstraputil.ValidateUsages(opts.Usages); err != nil {
		return "", err
	}
	for _, g := range opts.Groups {
		if err := bootstraputil.ValidateBootstrapGroupName(g); err != nil {
			return "", err
		}
	}
	id, secret, _ := strings.Cut(token, ".")
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:     []byte(id),
		bootstrapapi.BootstrapTokenSecretKey: []byte(secret),
	}
	if opts.Description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(opts.Description)
	}
	if opts.TTL > 0 {
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(time.Now().Add(opts.TTL).UTC().Format(time.RFC3339))
	}
	for _, u := range opts.Usages {
		data[bootstrapapi.BootstrapTokenUsagePrefix+u] = []byte("true")
	}
	if len(opts.Groups) > 0 {
		data[bootstrapapi.BootstrapTokenExtraGroupsKey] = []byte(strings.Join(opts.Groups, ","))
	}
	if err := EnsureBindings(ctx, cs); err != nil {
		return "", err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstraputil.BootstrapTokenSecretName(id), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		Data:       data,
	}
	if _, err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return "", fmt.Errorf("%w: %q", ErrExists, id)
		}
		return "", fmt.Errorf("creating the token: %w", err)
	}
	return token, nil
}

// Bindings are kubeadm's bootstrap-token phase's ClusterRoleBindings:
// DefaultGroup may create CertificateSigningRequests and have its node
// client ones approved; nodes may have their renewals approved.
func Bindings() []*rbacv1.ClusterRoleBinding {
	binding := func(name, role, group string) *rbacv1.ClusterRoleBinding {
		return &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: group}},
		}
	}
	return []*rbacv1.ClusterRoleBinding{
		binding("minik8s:kubelet-bootstrap", "system:node-bootstrapper", DefaultGroup),
		binding("minik8s:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", DefaultGroup),
		binding("minik8s:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"),
	}
}

// EnsureBindings creates the Bindings that are missing.
func EnsureBindings(ctx context.Context, cs kubernetes.Interface) error {
	for _, b := range Bindings() {
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ClusterRoleBinding %s: %w", b.Name, err)
		}
	}
	return nil
}

// Kubeconfig is an agent's --bootstrap-kubeconfig: the API server at
// server, trusted through caPEM, and the token.
func Kubeconfig(server string, caPEM []byte, token string) *clientcmdapi.Config {
	return &clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"minik8s": {Server: server, CertificateAuthorityData: caPEM}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"tls-bootstrap-token-user": {Token: token}},
		Contexts:       map[string]*clientcmdapi.Context{"tls-bootstrap-token-user@minik8s": {Cluster: "minik8s", AuthInfo: "tls-bootstrap-token-user"}},
		CurrentContext: "tls-bootstrap-token-user@minik8s",
	}
}

// Delete removes the token given by its id or as id.secret, as `kubeadm
// token delete`.
func Delete(ctx context.Context, cs kubernetes.Interface, tokenOrID string) error {
	id, _, _ := strings.Cut(tokenOrID, ".")
	if !bootstraputil.IsValidBootstrapTokenID(id) {
		return fmt.Errorf("%q is neither a token id nor a token (%s)", tokenOrID, bootstrapapi.BootstrapTokenPattern)
	}
	name := bootstraputil.BootstrapTokenSecretName(id)
	if err := cs.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("bootstrap token %q not found", id)
		}
		return fmt.Errorf("deleting bootstrap token %q: %w", id, err)
	}
	return nil
}
