package addons

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// HashAnnotation records the hash of the add-on's definition of an
// object when Apply last wrote it.
const HashAnnotation = "addons.minik8s.io/definition-hash"

// Result says what Apply did to one object, in kubectl apply's words.
type Result struct {
	// Ref is kubectl's resource/name, e.g. "deployment.apps/coredns".
	Ref string
	// Action is "created", "configured" or "unchanged".
	Action string
}

// typed is the part of a client-go typed client Apply uses.
type typed[T metav1.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// Apply creates or updates objs in order, following each object's mode
// label (see the package doc), and reports what it did to out (nil:
// nowhere).
func Apply(ctx context.Context, cs kubernetes.Interface, objs []runtime.Object, out io.Writer) ([]Result, error) {
	var results []Result
	for _, o := range objs {
		var r Result
		var err error
		switch o := o.(type) {
		case *corev1.ServiceAccount:
			r, err = applyOne(ctx, cs.CoreV1().ServiceAccounts(o.Namespace), o, "serviceaccount", nil)
		case *corev1.ConfigMap:
			r, err = applyOne(ctx, cs.CoreV1().ConfigMaps(o.Namespace), o, "configmap", nil)
		case *corev1.Service:
			r, err = applyOne(ctx, cs.CoreV1().Services(o.Namespace), o, "service", func(want, cur *corev1.Service) error {
				if cur.Spec.ClusterIP != want.Spec.ClusterIP {
					return fmt.Errorf("service %s/%s exists with ClusterIP %s, not %s: a ClusterIP cannot change; delete the Service and apply again", cur.Namespace, cur.Name, cur.Spec.ClusterIP, want.Spec.ClusterIP)
				}
				want.Spec.ClusterIPs = cur.Spec.ClusterIPs
				return nil
			})
		case *rbacv1.ClusterRole:
			r, err = applyOne(ctx, cs.RbacV1().ClusterRoles(), o, "clusterrole.rbac.authorization.k8s.io", nil)
		case *rbacv1.ClusterRoleBinding:
			r, err = applyOne(ctx, cs.RbacV1().ClusterRoleBindings(), o, "clusterrolebinding.rbac.authorization.k8s.io", nil)
		case *appsv1.Deployment:
			r, err = applyOne(ctx, cs.AppsV1().Deployments(o.Namespace), o, "deployment.apps", nil)
		default:
			err = fmt.Errorf("add-on object of type %T is not supported", o)
		}
		if err != nil {
			return results, err
		}
		if out != nil {
			fmt.Fprintf(out, "%s %s\n", r.Ref, r.Action)
		}
		results = append(results, r)
	}
	return results, nil
}

// applyOne writes want unless it exists as wanted. keep copies what the
// server owns from the current object into want before an update, or
// refuses the update.
func applyOne[T interface {
	metav1.Object
	runtime.Object
}](ctx context.Context, c typed[T], want T, kind string, keep func(want, cur T) error) (Result, error) {
	want = want.DeepCopyObject().(T)
	r := Result{Ref: kind + "/" + want.GetName()}
	hash, err := definitionHash(want)
	if err != nil {
		return r, err
	}
	ann := want.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[HashAnnotation] = hash
	want.SetAnnotations(ann)
	cur, err := c.Get(ctx, want.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if _, err := c.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return r, fmt.Errorf("creating %s: %w", r.Ref, err)
		}
		r.Action = "created"
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("reading %s: %w", r.Ref, err)
	}
	if want.GetLabels()[ModeLabel] == ModeEnsureExists || cur.GetAnnotations()[HashAnnotation] == hash {
		r.Action = "unchanged"
		return r, nil
	}
	if keep != nil {
		if err := keep(want, cur); err != nil {
			return r, err
		}
	}
	want.SetResourceVersion(cur.GetResourceVersion())
	if _, err := c.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return r, fmt.Errorf("updating %s: %w", r.Ref, err)
	}
	r.Action = "configured"
	return r, nil
}

// definitionHash hashes obj's JSON without the hash annotation.
func definitionHash(obj runtime.Object) (string, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// Names of the add-ons Apply knows, for `ctl addons`.
var Names = []string{"dns"}

// Lookup returns the objects of the named add-on with the default
// configuration changed by dns.
func Lookup(name string, dns *DNSConfig) ([]runtime.Object, error) {
	switch name {
	case "dns":
		if err := dns.Validate(); err != nil {
			return nil, err
		}
		return DNS(dns), nil
	}
	return nil, fmt.Errorf("no add-on %q: the add-ons are %s", name, strings.Join(Names, ", "))
}

// KubernetesServiceURL is how a pod reaches the API server:
// http://<ClusterIP>:<port> of the default/kubernetes Service (plain HTTP:
// minik8s' API server has no TLS yet).
func KubernetesServiceURL(ctx context.Context, cs kubernetes.Interface) (string, error) {
	svc, err := cs.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("the default/kubernetes Service does not exist (the API server creates it when it starts): give CoreDNS the API server's address with --apiserver")
	}
	if err != nil {
		return "", fmt.Errorf("reading the default/kubernetes Service: %w", err)
	}
	if svc.Spec.ClusterIP == "" || strings.EqualFold(svc.Spec.ClusterIP, "None") || len(svc.Spec.Ports) == 0 {
		return "", fmt.Errorf("the default/kubernetes Service has no ClusterIP or port: give CoreDNS the API server's address with --apiserver")
	}
	return fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port), nil
}
