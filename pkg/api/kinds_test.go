package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"sort"
	"strings"
	"testing"
	// Time zones known without the host's zoneinfo, as kube-apiserver
	// (which embeds it) knows them.
	_ "time/tzdata"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	resourcev1 "k8s.io/api/resource/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/utils/ptr"
)

// The kinds served through Kubernetes' own strategies (kinds.go), checked
// against what a kube-apiserver v1.37 does with the same objects: the
// defaults it fills in, the errors (type and field) its 422 carries, what
// an update may not change, what a status write keeps, kubectl's columns
// and the field selectors it accepts.

// kindUID is the uid every created object gets (a Job's selector is made
// from it).
const kindUID = "8a4f5b2e-0000-4000-8000-000000000001"

// requestCtx is the context the server gives a strategy: the namespace and
// the request info (declarative validation reads the group, version and
// subresource from it).
func requestCtx(r *Resource, verb, ns, name, sub string) context.Context {
	info := &request.RequestInfo{
		IsResourceRequest: true, Verb: verb, APIGroup: r.Group, APIVersion: r.Version,
		Namespace: ns, Resource: r.Plural, Name: name, Subresource: sub,
	}
	return request.WithRequestInfo(request.WithNamespace(ctx, ns), info)
}

// serverCreate does to obj what the server does on a POST: defaults, the
// system fields, PrepareForCreate, then validation.
func serverCreate(t *testing.T, obj runtime.Object) field.ErrorList {
	t.Helper()
	r := resourceFor(t, obj)
	m := metaOf(t, obj)
	c := requestCtx(r, "create", m.GetNamespace(), m.GetName(), "")
	r.Strategy.Default(obj)
	m.SetUID(kindUID)
	m.SetCreationTimestamp(metav1.Unix(1000, 0))
	r.Strategy.PrepareForCreate(c, obj)
	return r.Strategy.Validate(c, obj)
}

// createCase is one object a client creates.
type createCase struct {
	name string
	obj  runtime.Object
	want []wantErr
	// check looks at the object as it would be stored (its defaults).
	check func(t *testing.T, obj runtime.Object)
}

func runCreates(t *testing.T, tests []createCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run("create/"+tt.name, func(t *testing.T) {
			obj := tt.obj.DeepCopyObject()
			checkErrs(t, serverCreate(t, obj), tt.want...)
			if tt.check != nil {
				tt.check(t, obj)
			}
		})
	}
}

// updateCase is a PUT of an object created (validly) from old: edit
// changes a copy of the stored object, which is then written to the main
// resource or, with status, to its status subresource.
type updateCase struct {
	name string
	old  runtime.Object
	// stored changes the stored object after its create, as controllers
	// would (e.g. a claim's phase Bound).
	stored func(old runtime.Object)
	edit   func(obj runtime.Object)
	status bool
	want   []wantErr
	check  func(t *testing.T, obj, old runtime.Object)
}

func runUpdates(t *testing.T, tests []updateCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run("update/"+tt.name, func(t *testing.T) {
			old := tt.old.DeepCopyObject()
			if errs := serverCreate(t, old); len(errs) > 0 {
				t.Fatalf("creating the old object: %v", errs)
			}
			metaOf(t, old).SetResourceVersion("7")
			if tt.stored != nil {
				tt.stored(old)
			}
			obj := old.DeepCopyObject()
			tt.edit(obj)
			r := resourceFor(t, obj)
			m := metaOf(t, obj)
			var errs field.ErrorList
			r.Strategy.Default(obj)
			if tt.status {
				c := requestCtx(r, "update", m.GetNamespace(), m.GetName(), "status")
				r.Strategy.PrepareForStatusUpdate(c, obj, old)
				errs = r.Strategy.ValidateStatusUpdate(c, obj, old)
			} else {
				c := requestCtx(r, "update", m.GetNamespace(), m.GetName(), "")
				r.Strategy.PrepareForUpdate(c, obj, old)
				errs = r.Strategy.ValidateUpdate(c, obj, old)
			}
			checkErrs(t, errs, tt.want...)
			if tt.check != nil {
				tt.check(t, obj, old)
			}
		})
	}
}

// checked and checkedUpdate let a case's check take its own type.
func checked[T runtime.Object](f func(t *testing.T, obj T)) func(*testing.T, runtime.Object) {
	return func(t *testing.T, obj runtime.Object) { f(t, obj.(T)) }
}

func checkedUpdate[T runtime.Object](f func(t *testing.T, obj, old T)) func(*testing.T, runtime.Object, runtime.Object) {
	return func(t *testing.T, obj, old runtime.Object) { f(t, obj.(T), old.(T)) }
}

// variant returns a copy of obj changed by edit, for tables of variations.
func variant[T runtime.Object](obj T, edit func(T)) T {
	c := obj.DeepCopyObject().(T)
	edit(c)
	return c
}

func nsMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default"}
}

func clusterMeta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name} }

func quantities(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

// oneContainerTemplate is a pod template with one container.
func oneContainerTemplate(labels map[string]string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "app", Image: "minik8s/echo:1.0"}},
		},
	}
}

var webLabels = map[string]string{"app": "web"}

func TestKindConfigMap(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: nsMeta("settings"), Data: map[string]string{"app.properties": "color=blue", "LOG_LEVEL": "debug"}}
	runCreates(t, []createCase{
		{name: "valid", obj: cm, check: checked(func(t *testing.T, c *corev1.ConfigMap) {
			if got := c.Data["LOG_LEVEL"]; got != "debug" {
				t.Errorf("got data[LOG_LEVEL] %q, want debug", got)
			}
		})},
		{name: "key with a space", obj: variant(cm, func(c *corev1.ConfigMap) { c.Data["a b"] = "x" }), want: []wantErr{invalid("data[a b]")}},
		{name: "binaryData key with a slash", obj: variant(cm, func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"a/b": {1}} }), want: []wantErr{invalid("binaryData[a/b]")}},
		{name: "key in data and binaryData", obj: variant(cm, func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"LOG_LEVEL": {1}} }), want: []wantErr{invalid("data[LOG_LEVEL]")}},
		{name: "name not a DNS subdomain", obj: variant(cm, func(c *corev1.ConfigMap) { c.Name = "Bad_Name" }), want: []wantErr{invalid("metadata.name")}},
	})
	immutable := variant(cm, func(c *corev1.ConfigMap) { c.Immutable = ptr.To(true) })
	runUpdates(t, []updateCase{
		{name: "data of a mutable configmap", old: cm, edit: hook(func(c *corev1.ConfigMap) { c.Data["LOG_LEVEL"] = "info" })},
		{name: "data of an immutable configmap", old: immutable, edit: hook(func(c *corev1.ConfigMap) { c.Data["LOG_LEVEL"] = "info" }), want: []wantErr{forbidden("data")}},
		{name: "binaryData of an immutable configmap", old: immutable, edit: hook(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"k": {1}} }), want: []wantErr{forbidden("binaryData")}},
		{name: "immutable set back to false", old: immutable, edit: hook(func(c *corev1.ConfigMap) { c.Immutable = ptr.To(false) }), want: []wantErr{forbidden("immutable")}},
		{name: "labels of an immutable configmap", old: immutable, edit: hook(func(c *corev1.ConfigMap) { c.Labels = map[string]string{"team": "a"} })},
	})
}

func TestKindSecret(t *testing.T) {
	s := &corev1.Secret{ObjectMeta: nsMeta("db"), Data: map[string][]byte{"password": []byte("s3cret")}}
	typed := func(typ corev1.SecretType, data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: nsMeta("typed"), Type: typ, Data: data}
	}
	runCreates(t, []createCase{
		{name: "type defaults to Opaque", obj: s, check: checked(func(t *testing.T, s *corev1.Secret) {
			if s.Type != corev1.SecretTypeOpaque {
				t.Errorf("got type %q, want Opaque", s.Type)
			}
		})},
		{name: "stringData is merged into data", obj: &corev1.Secret{ObjectMeta: nsMeta("db"), StringData: map[string]string{"user": "admin"}},
			check: checked(func(t *testing.T, s *corev1.Secret) {
				if got := string(s.Data["user"]); got != "admin" || s.StringData != nil {
					t.Errorf("got data[user] %q and stringData %v, want admin and none", got, s.StringData)
				}
			})},
		{name: "key with a space", obj: variant(s, func(s *corev1.Secret) { s.Data["a b"] = nil }), want: []wantErr{invalid("data[a b]")}},
		{name: "tls with both keys", obj: typed(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("c"), "tls.key": []byte("k")})},
		{name: "tls without tls.key", obj: typed(corev1.SecretTypeTLS, map[string][]byte{"tls.crt": []byte("c")}), want: []wantErr{required("data[tls.key]")}},
		{name: "tls without either key", obj: typed(corev1.SecretTypeTLS, nil), want: []wantErr{required("data[tls.crt]"), required("data[tls.key]")}},
		{name: "dockerconfigjson without .dockerconfigjson", obj: typed(corev1.SecretTypeDockerConfigJson, nil), want: []wantErr{required("data[.dockerconfigjson]")}},
		{name: "dockerconfigjson not JSON", obj: typed(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte("{")}), want: []wantErr{invalid("data[.dockerconfigjson]")}},
		{name: "dockerconfigjson", obj: typed(corev1.SecretTypeDockerConfigJson, map[string][]byte{".dockerconfigjson": []byte(`{"auths":{}}`)})},
		{name: "basic-auth without username or password", obj: typed(corev1.SecretTypeBasicAuth, nil), want: []wantErr{required("data[username]"), required("data[password]")}},
		{name: "ssh-auth without the key", obj: typed(corev1.SecretTypeSSHAuth, nil), want: []wantErr{required("data[ssh-privatekey]")}},
		{name: "service-account-token without the account", obj: typed(corev1.SecretTypeServiceAccountToken, nil), want: []wantErr{required("metadata.annotations[kubernetes.io/service-account.name]")}},
	})
	runUpdates(t, []updateCase{
		{name: "data", old: s, edit: hook(func(s *corev1.Secret) { s.Data["password"] = []byte("new") })},
		{name: "type is immutable", old: s, edit: hook(func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeTLS
			s.Data = map[string][]byte{"tls.crt": nil, "tls.key": nil}
		}), want: []wantErr{invalid("type")}},
		{name: "data of an immutable secret", old: variant(s, func(s *corev1.Secret) { s.Immutable = ptr.To(true) }),
			edit: hook(func(s *corev1.Secret) { s.Data["password"] = []byte("new") }), want: []wantErr{forbidden("data")}},
	})
}

func TestKindServiceAccount(t *testing.T) {
	sa := &corev1.ServiceAccount{ObjectMeta: nsMeta("builder")}
	runCreates(t, []createCase{
		{name: "valid", obj: sa},
		{name: "with image pull secrets", obj: variant(sa, func(sa *corev1.ServiceAccount) {
			sa.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
		})},
		{name: "name not a DNS subdomain", obj: variant(sa, func(sa *corev1.ServiceAccount) { sa.Name = "Builder!" }), want: []wantErr{invalid("metadata.name")}},
		{name: "no namespace", obj: variant(sa, func(sa *corev1.ServiceAccount) { sa.Namespace = "" }), want: []wantErr{required("metadata.namespace")}},
		{name: "secret references keep only the name", obj: variant(sa, func(sa *corev1.ServiceAccount) {
			sa.Secrets = []corev1.ObjectReference{{Kind: "Secret", Namespace: "default", Name: "token", FieldPath: "data"}}
		}), check: checked(func(t *testing.T, sa *corev1.ServiceAccount) {
			if want := []corev1.ObjectReference{{Name: "token"}}; !cmp.Equal(sa.Secrets, want) {
				t.Errorf("got secrets %+v, want %+v", sa.Secrets, want)
			}
		})},
	})
	runUpdates(t, []updateCase{
		{name: "automount may change", old: sa, edit: hook(func(sa *corev1.ServiceAccount) { sa.AutomountServiceAccountToken = ptr.To(false) })},
		{name: "name is immutable", old: sa, edit: hook(func(sa *corev1.ServiceAccount) { sa.Name = "deployer" }), want: []wantErr{invalid("metadata.name")}},
	})
}

func newPV() *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: clusterMeta("pv1"),
		Spec: corev1.PersistentVolumeSpec{
			Capacity:               quantities("storage", "1Gi"),
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/pv1"}},
		},
	}
}

func TestKindPersistentVolume(t *testing.T) {
	pv := newPV()
	runCreates(t, []createCase{
		{name: "defaults", obj: pv, check: checked(func(t *testing.T, pv *corev1.PersistentVolume) {
			if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
				t.Errorf("got reclaim policy %q, want Retain", pv.Spec.PersistentVolumeReclaimPolicy)
			}
			if pv.Spec.VolumeMode == nil || *pv.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
				t.Errorf("got volumeMode %v, want Filesystem", pv.Spec.VolumeMode)
			}
			if pv.Status.Phase != corev1.VolumePending {
				t.Errorf("got phase %q, want Pending", pv.Status.Phase)
			}
		})},
		{name: "no capacity", obj: variant(pv, func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = nil }),
			want: []wantErr{required("spec.capacity"), notSupported("spec.capacity")}},
		{name: "capacity other than storage", obj: variant(pv, func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = quantities("cpu", "1") }),
			want: []wantErr{notSupported("spec.capacity")}},
		{name: "no access modes", obj: variant(pv, func(pv *corev1.PersistentVolume) { pv.Spec.AccessModes = nil }), want: []wantErr{required("spec.accessModes")}},
		{name: "no volume source", obj: variant(pv, func(pv *corev1.PersistentVolume) { pv.Spec.HostPath = nil }), want: []wantErr{required("spec")}},
		{name: "unknown reclaim policy", obj: variant(pv, func(pv *corev1.PersistentVolume) { pv.Spec.PersistentVolumeReclaimPolicy = "Shred" }),
			want: []wantErr{notSupported("spec.persistentVolumeReclaimPolicy")}},
	})
	runUpdates(t, []updateCase{
		{name: "volume source is immutable", old: pv, edit: hook(func(pv *corev1.PersistentVolume) { pv.Spec.HostPath.Path = "/data/other" }),
			want: []wantErr{forbidden("spec.persistentvolumesource")}},
		{name: "capacity may grow", old: pv, edit: hook(func(pv *corev1.PersistentVolume) { pv.Spec.Capacity = quantities("storage", "2Gi") })},
		{name: "status write keeps spec", old: pv, status: true, edit: hook(func(pv *corev1.PersistentVolume) {
			pv.Spec.Capacity = quantities("storage", "5Gi")
			pv.Status.Phase = corev1.VolumeAvailable
		}), check: checkedUpdate(func(t *testing.T, pv, old *corev1.PersistentVolume) {
			if got := pv.Spec.Capacity.Storage().String(); got != "1Gi" {
				t.Errorf("got capacity %s, want the stored 1Gi", got)
			}
			if pv.Status.Phase != corev1.VolumeAvailable {
				t.Errorf("got phase %q, want Available", pv.Status.Phase)
			}
		})},
	})
}

func newPVC() *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: nsMeta("data"),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: quantities("storage", "1Gi")},
		},
	}
}

func TestKindPersistentVolumeClaim(t *testing.T) {
	pvc := newPVC()
	bound := func(obj runtime.Object) {
		c := obj.(*corev1.PersistentVolumeClaim)
		c.Spec.VolumeName = "pv1"
		c.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: quantities("storage", "1Gi")}
	}
	runCreates(t, []createCase{
		{name: "volumeMode defaults to Filesystem", obj: pvc, check: checked(func(t *testing.T, c *corev1.PersistentVolumeClaim) {
			if c.Spec.VolumeMode == nil || *c.Spec.VolumeMode != corev1.PersistentVolumeFilesystem {
				t.Errorf("got volumeMode %v, want Filesystem", c.Spec.VolumeMode)
			}
			// PrepareForCreate clears status; it reads back Pending.
			if c.Status.Phase != corev1.ClaimPending {
				t.Errorf("got status.phase %q, want Pending", c.Status.Phase)
			}
		})},
		{name: "no access modes", obj: variant(pvc, func(c *corev1.PersistentVolumeClaim) { c.Spec.AccessModes = nil }), want: []wantErr{required("spec.accessModes")}},
		{name: "unknown access mode", obj: variant(pvc, func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{"ReadSometimes"}
		}),
			want: []wantErr{notSupported("spec.accessModes")}},
		{name: "no storage request", obj: variant(pvc, func(c *corev1.PersistentVolumeClaim) { c.Spec.Resources.Requests = nil }), want: []wantErr{required("spec.resources[storage]")}},
		{name: "unknown volumeMode", obj: variant(pvc, func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeMode("Tape")) }),
			want: []wantErr{notSupported("spec.volumeMode")}},
	})
	runUpdates(t, []updateCase{
		{name: "access modes are immutable", old: pvc, edit: hook(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), want: []wantErr{forbidden("spec")}},
		{name: "a pending claim cannot grow", old: pvc, edit: hook(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests = quantities("storage", "2Gi")
		}), want: []wantErr{forbidden("spec")}},
		{name: "a bound claim may grow", old: pvc, stored: bound, edit: hook(func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Resources.Requests = quantities("storage", "2Gi")
		})},
		{name: "volumeName may be set once", old: pvc, edit: hook(func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "pv1" })},
		{name: "status write keeps spec", old: pvc, status: true, edit: func(obj runtime.Object) {
			bound(obj)
			obj.(*corev1.PersistentVolumeClaim).Spec.VolumeName = ""
			obj.(*corev1.PersistentVolumeClaim).Spec.AccessModes = nil
		}, check: checkedUpdate(func(t *testing.T, c, old *corev1.PersistentVolumeClaim) {
			if len(c.Spec.AccessModes) != 1 || c.Status.Phase != corev1.ClaimBound {
				t.Errorf("got access modes %v and phase %q, want the stored modes and Bound", c.Spec.AccessModes, c.Status.Phase)
			}
		})},
	})
}

func newRC() *corev1.ReplicationController {
	return &corev1.ReplicationController{
		ObjectMeta: nsMeta("web"),
		Spec:       corev1.ReplicationControllerSpec{Template: ptr.To(oneContainerTemplate(webLabels, ""))},
	}
}

func TestKindReplicationController(t *testing.T) {
	rc := newRC()
	runCreates(t, []createCase{
		{name: "selector, labels and replicas from the template", obj: rc, check: checked(func(t *testing.T, rc *corev1.ReplicationController) {
			if !cmp.Equal(rc.Spec.Selector, webLabels) || !cmp.Equal(rc.Labels, webLabels) {
				t.Errorf("got selector %v and labels %v, want both %v", rc.Spec.Selector, rc.Labels, webLabels)
			}
			if rc.Spec.Replicas == nil || *rc.Spec.Replicas != 1 {
				t.Errorf("got replicas %v, want 1", rc.Spec.Replicas)
			}
			if rc.Generation != 1 {
				t.Errorf("got generation %d, want 1", rc.Generation)
			}
		})},
		{name: "selector not matching the template", obj: variant(rc, func(rc *corev1.ReplicationController) { rc.Spec.Selector = map[string]string{"app": "db"} }),
			want: []wantErr{invalid("spec.template.metadata.labels")}},
		{name: "negative replicas", obj: variant(rc, func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr.To(int32(-1)) }), want: []wantErr{invalid("spec.replicas")}},
		{name: "restartPolicy Never", obj: variant(rc, func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}),
			want: []wantErr{notSupported("spec.template.spec.restartPolicy")}},
	})
	runUpdates(t, []updateCase{
		{name: "scale", old: rc, edit: hook(func(rc *corev1.ReplicationController) { rc.Spec.Replicas = ptr.To(int32(3)) }),
			check: checkedUpdate(func(t *testing.T, rc, old *corev1.ReplicationController) {
				if rc.Generation != old.Generation+1 {
					t.Errorf("got generation %d, want %d", rc.Generation, old.Generation+1)
				}
			})},
		{name: "status write keeps spec", old: rc, status: true, edit: hook(func(rc *corev1.ReplicationController) {
			rc.Spec.Replicas = ptr.To(int32(9))
			rc.Status.Replicas = 1
		}), check: checkedUpdate(func(t *testing.T, rc, old *corev1.ReplicationController) {
			if *rc.Spec.Replicas != 1 || rc.Status.Replicas != 1 {
				t.Errorf("got replicas %d and status.replicas %d, want 1 and 1", *rc.Spec.Replicas, rc.Status.Replicas)
			}
		})},
	})
}

func TestKindResourceQuota(t *testing.T) {
	q := &corev1.ResourceQuota{ObjectMeta: nsMeta("compute"), Spec: corev1.ResourceQuotaSpec{Hard: quantities("pods", "10", "requests.cpu", "4")}}
	runCreates(t, []createCase{
		{name: "valid", obj: q},
		{name: "negative quantity", obj: variant(q, func(q *corev1.ResourceQuota) { q.Spec.Hard = quantities("pods", "-1") }), want: []wantErr{invalid("spec.hard[pods]")}},
		{name: "fractional pod count", obj: variant(q, func(q *corev1.ResourceQuota) { q.Spec.Hard = quantities("pods", "1500m") }), want: []wantErr{invalid("spec.hard[pods]")}},
		{name: "unknown scope", obj: variant(q, func(q *corev1.ResourceQuota) { q.Spec.Scopes = []corev1.ResourceQuotaScope{"Sometimes"} }), want: []wantErr{invalid("spec.scopes")}},
	})
	runUpdates(t, []updateCase{
		{name: "hard limits may change", old: q, edit: hook(func(q *corev1.ResourceQuota) { q.Spec.Hard = quantities("pods", "20") })},
		{name: "status write keeps spec", old: q, status: true, edit: hook(func(q *corev1.ResourceQuota) {
			q.Spec.Hard = quantities("pods", "99")
			q.Status = corev1.ResourceQuotaStatus{Hard: quantities("pods", "10"), Used: quantities("pods", "2")}
		}), check: checkedUpdate(func(t *testing.T, q, old *corev1.ResourceQuota) {
			if got := q.Spec.Hard.Pods().String(); got != "10" {
				t.Errorf("got spec.hard[pods] %s, want the stored 10", got)
			}
			if got := q.Status.Used.Pods().String(); got != "2" {
				t.Errorf("got status.used[pods] %s, want 2", got)
			}
		})},
	})
}

func TestKindLimitRange(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: nsMeta("defaults"), Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type: corev1.LimitTypeContainer,
		Max:  quantities("cpu", "1"),
	}}}}
	runCreates(t, []createCase{
		{name: "default and defaultRequest from max", obj: lr, check: checked(func(t *testing.T, lr *corev1.LimitRange) {
			item := lr.Spec.Limits[0]
			if got := item.Default.Cpu().String(); got != "1" {
				t.Errorf("got default cpu %s, want max 1", got)
			}
			if got := item.DefaultRequest.Cpu().String(); got != "1" {
				t.Errorf("got defaultRequest cpu %s, want 1", got)
			}
		})},
		// The defaults (from max, 1) are then below min too.
		{name: "min above max", obj: variant(lr, func(lr *corev1.LimitRange) { lr.Spec.Limits[0].Min = quantities("cpu", "2") }),
			want: []wantErr{invalid("spec.limits[0].min[cpu]"), invalid("spec.limits[0].default[cpu]"), invalid("spec.limits[0].defaultRequest[cpu]")}},
		// defaultRequest is defaulted from default, so both are over max.
		{name: "default above max", obj: variant(lr, func(lr *corev1.LimitRange) { lr.Spec.Limits[0].Default = quantities("cpu", "2") }),
			want: []wantErr{invalid("spec.limits[0].default[cpu]"), invalid("spec.limits[0].defaultRequest[cpu]")}},
		{name: "defaultRequest above default", obj: variant(lr, func(lr *corev1.LimitRange) {
			lr.Spec.Limits[0].Default = quantities("cpu", "500m")
			lr.Spec.Limits[0].DefaultRequest = quantities("cpu", "750m")
		}), want: []wantErr{invalid("spec.limits[0].defaultRequest[cpu]")}},
		// An empty type fails the qualified-name rule twice.
		{name: "no type", obj: variant(lr, func(lr *corev1.LimitRange) { lr.Spec.Limits[0].Type = "" }),
			want: []wantErr{invalid("spec.limits[0].type"), invalid("spec.limits[0].type")}},
	})
	runUpdates(t, []updateCase{
		{name: "limits may change", old: lr, edit: hook(func(lr *corev1.LimitRange) { lr.Spec.Limits[0].Max = quantities("cpu", "2") })},
		{name: "limits stay valid", old: lr, edit: hook(func(lr *corev1.LimitRange) { lr.Spec.Limits[0].Min = quantities("cpu", "3") }),
			want: []wantErr{invalid("spec.limits[0].min[cpu]"), invalid("spec.limits[0].default[cpu]"), invalid("spec.limits[0].defaultRequest[cpu]")}},
	})
}

func TestKindPodTemplate(t *testing.T) {
	pt := &corev1.PodTemplate{ObjectMeta: nsMeta("web"), Template: oneContainerTemplate(webLabels, "")}
	runCreates(t, []createCase{
		{name: "pod defaults in the template", obj: pt, check: checked(func(t *testing.T, pt *corev1.PodTemplate) {
			s := pt.Template.Spec
			if s.RestartPolicy != corev1.RestartPolicyAlways || s.DNSPolicy != corev1.DNSClusterFirst || s.SchedulerName != corev1.DefaultSchedulerName {
				t.Errorf("got restartPolicy %q dnsPolicy %q schedulerName %q, want Always ClusterFirst default-scheduler", s.RestartPolicy, s.DNSPolicy, s.SchedulerName)
			}
			if c := s.Containers[0]; c.ImagePullPolicy != corev1.PullIfNotPresent || c.TerminationMessagePath != corev1.TerminationMessagePathDefault {
				t.Errorf("got imagePullPolicy %q terminationMessagePath %q, want IfNotPresent and %s", c.ImagePullPolicy, c.TerminationMessagePath, corev1.TerminationMessagePathDefault)
			}
		})},
		{name: "no containers", obj: variant(pt, func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers = nil }), want: []wantErr{required("template.spec.containers")}},
		{name: "container name not a DNS label", obj: variant(pt, func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers[0].Name = "App_1" }),
			want: []wantErr{invalid("template.spec.containers[0].name")}},
		{name: "no image", obj: variant(pt, func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers[0].Image = "" }), want: []wantErr{required("template.spec.containers[0].image")}},
	})
	runUpdates(t, []updateCase{
		{name: "a template change moves generation", old: pt, edit: hook(func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers[0].Image = "minik8s/echo:2.0" }),
			check: checkedUpdate(func(t *testing.T, pt, old *corev1.PodTemplate) {
				if pt.Generation != old.Generation+1 {
					t.Errorf("got generation %d, want %d", pt.Generation, old.Generation+1)
				}
			})},
		{name: "template stays valid", old: pt, edit: hook(func(pt *corev1.PodTemplate) { pt.Template.Spec.Containers = nil }),
			want: []wantErr{required("template.spec.containers")}},
	})
}

func newStatefulSet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: nsMeta("db"),
		Spec: appsv1.StatefulSetSpec{
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Template:    oneContainerTemplate(map[string]string{"app": "db", "tier": "data"}, ""),
		},
	}
}

func TestKindStatefulSet(t *testing.T) {
	sts := newStatefulSet()
	runCreates(t, []createCase{
		{name: "defaults", obj: sts, check: checked(func(t *testing.T, s *appsv1.StatefulSet) {
			if s.Spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement {
				t.Errorf("got podManagementPolicy %q, want OrderedReady", s.Spec.PodManagementPolicy)
			}
			u := s.Spec.UpdateStrategy
			if u.Type != appsv1.RollingUpdateStatefulSetStrategyType || u.RollingUpdate == nil || ptr.Deref(u.RollingUpdate.Partition, -1) != 0 {
				t.Errorf("got updateStrategy %+v, want RollingUpdate with partition 0", u)
			}
			if ptr.Deref(s.Spec.RevisionHistoryLimit, 0) != 10 || ptr.Deref(s.Spec.Replicas, 0) != 1 {
				t.Errorf("got revisionHistoryLimit %v replicas %v, want 10 and 1", s.Spec.RevisionHistoryLimit, s.Spec.Replicas)
			}
			if p := s.Spec.PersistentVolumeClaimRetentionPolicy; p == nil || p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("got persistentVolumeClaimRetentionPolicy %+v, want Retain/Retain", p)
			}
			if s.Generation != 1 {
				t.Errorf("got generation %d, want 1", s.Generation)
			}
		})},
		{name: "selector not matching the template", obj: variant(sts, func(s *appsv1.StatefulSet) { s.Spec.Selector.MatchLabels = map[string]string{"app": "web"} }),
			want: []wantErr{invalid("spec.template.metadata.labels")}},
		// No selector matches nothing, so the template's labels do not match either.
		{name: "no selector", obj: variant(sts, func(s *appsv1.StatefulSet) { s.Spec.Selector = nil }),
			want: []wantErr{required("spec.selector"), invalid("spec.template.metadata.labels")}},
		{name: "empty selector", obj: variant(sts, func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} }), want: []wantErr{invalid("spec.selector")}},
		{name: "unknown podManagementPolicy", obj: variant(sts, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }), want: []wantErr{invalid("spec.podManagementPolicy")}},
		{name: "negative replicas", obj: variant(sts, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To(int32(-1)) }), want: []wantErr{invalid("spec.replicas")}},
		{name: "restartPolicy OnFailure", obj: variant(sts, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }),
			want: []wantErr{notSupported("spec.template.spec.restartPolicy")}},
		{name: "serviceName not a DNS label", obj: variant(sts, func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "db.svc" }), want: []wantErr{invalid("spec.serviceName")}},
	})
	runUpdates(t, []updateCase{
		{name: "replicas and image may change", old: sts, edit: hook(func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To(int32(3))
			s.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:2.0"
		}), check: checkedUpdate(func(t *testing.T, s, old *appsv1.StatefulSet) {
			if s.Generation != 2 {
				t.Errorf("got generation %d, want 2", s.Generation)
			}
		})},
		{name: "selector is immutable", old: sts, edit: hook(func(s *appsv1.StatefulSet) { s.Spec.Selector.MatchLabels["tier"] = "data" }),
			want: []wantErr{invalid("spec.selector")}},
		{name: "serviceName is immutable", old: sts, edit: hook(func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "db2" }), want: []wantErr{invalid("spec.serviceName")}},
		{name: "podManagementPolicy is immutable", old: sts, edit: hook(func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }),
			want: []wantErr{invalid("spec.podManagementPolicy")}},
		{name: "status write keeps spec", old: sts, status: true, edit: hook(func(s *appsv1.StatefulSet) {
			s.Spec.Replicas = ptr.To(int32(5))
			s.Spec.Template.Spec.Containers[0].Image = "sneaky:1"
			s.Status = appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 1, CurrentReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}
		}), check: checkedUpdate(func(t *testing.T, s, old *appsv1.StatefulSet) {
			if *s.Spec.Replicas != 1 || s.Spec.Template.Spec.Containers[0].Image != "minik8s/echo:1.0" {
				t.Errorf("got replicas %d image %q, want the stored 1 and minik8s/echo:1.0", *s.Spec.Replicas, s.Spec.Template.Spec.Containers[0].Image)
			}
			if s.Status.ReadyReplicas != 1 || s.Generation != old.Generation {
				t.Errorf("got readyReplicas %d generation %d, want 1 and %d", s.Status.ReadyReplicas, s.Generation, old.Generation)
			}
		})},
		{name: "status with more ready than replicas", old: sts, status: true, edit: hook(func(s *appsv1.StatefulSet) {
			s.Status = appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 2}
		}), want: []wantErr{invalid("status.readyReplicas")}},
	})
}

func newDaemonSet() *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: nsMeta("agent"),
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: oneContainerTemplate(map[string]string{"app": "agent", "tier": "node"}, ""),
		},
	}
}

func TestKindDaemonSet(t *testing.T) {
	ds := newDaemonSet()
	runCreates(t, []createCase{
		{name: "defaults", obj: ds, check: checked(func(t *testing.T, d *appsv1.DaemonSet) {
			u := d.Spec.UpdateStrategy
			if u.Type != appsv1.RollingUpdateDaemonSetStrategyType || u.RollingUpdate == nil ||
				u.RollingUpdate.MaxUnavailable.String() != "1" || u.RollingUpdate.MaxSurge.String() != "0" {
				t.Errorf("got updateStrategy %+v, want RollingUpdate maxUnavailable 1 maxSurge 0", u)
			}
			if ptr.Deref(d.Spec.RevisionHistoryLimit, 0) != 10 {
				t.Errorf("got revisionHistoryLimit %v, want 10", d.Spec.RevisionHistoryLimit)
			}
			// templateGeneration lives in this annotation in apps/v1.
			if got := d.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "1" {
				t.Errorf("got template generation %q, want 1", got)
			}
		})},
		{name: "selector not matching the template", obj: variant(ds, func(d *appsv1.DaemonSet) { d.Spec.Selector.MatchLabels = map[string]string{"app": "web"} }),
			want: []wantErr{invalid("spec.template.metadata.labels")}},
		{name: "restartPolicy Never", obj: variant(ds, func(d *appsv1.DaemonSet) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }),
			want: []wantErr{notSupported("spec.template.spec.restartPolicy")}},
		{name: "maxUnavailable 0 with maxSurge 0", obj: variant(ds, func(d *appsv1.DaemonSet) {
			d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType, RollingUpdate: &appsv1.RollingUpdateDaemonSet{
				MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(0)),
			}}
		}), want: []wantErr{required("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{name: "unknown update strategy", obj: variant(ds, func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.Type = "Sometimes" }),
			want: []wantErr{notSupported("spec.updateStrategy")}},
	})
	runUpdates(t, []updateCase{
		{name: "a template change moves the template generation", old: ds, edit: hook(func(d *appsv1.DaemonSet) {
			d.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:2.0"
		}), check: checkedUpdate(func(t *testing.T, d, old *appsv1.DaemonSet) {
			if got := d.Annotations[appsv1.DeprecatedTemplateGeneration]; got != "2" {
				t.Errorf("got template generation %q, want 2", got)
			}
			if d.Generation != 2 {
				t.Errorf("got generation %d, want 2", d.Generation)
			}
		})},
		{name: "selector is immutable", old: ds, edit: hook(func(d *appsv1.DaemonSet) { d.Spec.Selector.MatchLabels["tier"] = "node" }),
			want: []wantErr{invalid("spec.selector")}},
		{name: "status write keeps spec", old: ds, status: true, edit: hook(func(d *appsv1.DaemonSet) {
			d.Spec.Template.Spec.Containers[0].Image = "sneaky:1"
			d.Status = appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, CurrentNumberScheduled: 2, NumberReady: 1}
		}), check: checkedUpdate(func(t *testing.T, d, old *appsv1.DaemonSet) {
			if d.Spec.Template.Spec.Containers[0].Image != "minik8s/echo:1.0" || d.Status.NumberReady != 1 {
				t.Errorf("got image %q numberReady %d, want the stored image and 1", d.Spec.Template.Spec.Containers[0].Image, d.Status.NumberReady)
			}
		})},
		{name: "negative status count", old: ds, status: true, edit: hook(func(d *appsv1.DaemonSet) { d.Status.NumberReady = -1 }),
			want: []wantErr{invalid("status.numberReady")}},
	})
}

func TestKindControllerRevision(t *testing.T) {
	cr := &appsv1.ControllerRevision{ObjectMeta: nsMeta("db-5d8f"), Revision: 1, Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{}}}`)}}
	runCreates(t, []createCase{
		{name: "valid", obj: cr},
		{name: "no data", obj: variant(cr, func(c *appsv1.ControllerRevision) { c.Data = runtime.RawExtension{} }), want: []wantErr{required("data")}},
		{name: "negative revision", obj: variant(cr, func(c *appsv1.ControllerRevision) { c.Revision = -1 }), want: []wantErr{invalid("revision")}},
	})
	runUpdates(t, []updateCase{
		{name: "revision may move", old: cr, edit: hook(func(c *appsv1.ControllerRevision) { c.Revision = 3 })},
		{name: "data is immutable", old: cr, edit: hook(func(c *appsv1.ControllerRevision) { c.Data.Raw = []byte(`{"spec":{}}`) }), want: []wantErr{invalid("data")}},
	})
}

func newJob() *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: nsMeta("pi"),
		Spec:       batchv1.JobSpec{Template: oneContainerTemplate(map[string]string{"app": "pi"}, corev1.RestartPolicyNever)},
	}
}

func TestKindJob(t *testing.T) {
	job := newJob()
	runCreates(t, []createCase{
		{name: "defaults and the generated selector", obj: job, check: checked(func(t *testing.T, j *batchv1.Job) {
			s := j.Spec
			if ptr.Deref(s.Completions, 0) != 1 || ptr.Deref(s.Parallelism, 0) != 1 || ptr.Deref(s.BackoffLimit, 0) != 6 {
				t.Errorf("got completions %v parallelism %v backoffLimit %v, want 1 1 6", s.Completions, s.Parallelism, s.BackoffLimit)
			}
			if ptr.Deref(s.CompletionMode, "") != batchv1.NonIndexedCompletion || ptr.Deref(s.Suspend, true) {
				t.Errorf("got completionMode %v suspend %v, want NonIndexed and false", s.CompletionMode, s.Suspend)
			}
			if ptr.Deref(s.PodReplacementPolicy, "") != batchv1.TerminatingOrFailed {
				t.Errorf("got podReplacementPolicy %v, want TerminatingOrFailed", s.PodReplacementPolicy)
			}
			wantSel := &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: kindUID}}
			if diff := cmp.Diff(wantSel, s.Selector); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			wantLabels := map[string]string{
				"app": "pi", batchv1.ControllerUidLabel: kindUID, batchv1.JobNameLabel: "pi",
				"controller-uid": kindUID, "job-name": "pi", // the legacy labels
			}
			if diff := cmp.Diff(wantLabels, s.Template.Labels); diff != "" {
				t.Errorf("template labels (-want +got):\n%s", diff)
			}
			// The job's own labels default to its template's, the same
			// map, so a kube-apiserver's Job carries the generated labels
			// too.
			if diff := cmp.Diff(wantLabels, j.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
		})},
		{name: "only parallelism set", obj: variant(job, func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To(int32(3)) }),
			check: checked(func(t *testing.T, j *batchv1.Job) {
				if j.Spec.Completions != nil || *j.Spec.Parallelism != 3 {
					t.Errorf("got completions %v parallelism %d, want none and 3", j.Spec.Completions, *j.Spec.Parallelism)
				}
			})},
		{name: "manual selector", obj: variant(job, func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "pi"}}
		}), check: checked(func(t *testing.T, j *batchv1.Job) {
			if len(j.Spec.Template.Labels) != 1 {
				t.Errorf("got template labels %v, want only app=pi", j.Spec.Template.Labels)
			}
		})},
		{name: "manual selector missing", obj: variant(job, func(j *batchv1.Job) { j.Spec.ManualSelector = ptr.To(true) }),
			want: []wantErr{required("spec.selector"), invalid("spec.template.metadata.labels")}},
		{name: "manual selector not matching the template", obj: variant(job, func(j *batchv1.Job) {
			j.Spec.ManualSelector = ptr.To(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "e"}}
		}), want: []wantErr{invalid("spec.template.metadata.labels")}},
		{name: "negative completions", obj: variant(job, func(j *batchv1.Job) { j.Spec.Completions = ptr.To(int32(-1)) }), want: []wantErr{invalid("spec.completions")}},
		{name: "negative parallelism", obj: variant(job, func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To(int32(-1)) }), want: []wantErr{invalid("spec.parallelism")}},
		{name: "negative backoffLimit", obj: variant(job, func(j *batchv1.Job) { j.Spec.BackoffLimit = ptr.To(int32(-1)) }), want: []wantErr{invalid("spec.backoffLimit")}},
		{name: "restartPolicy Always (the pod default)", obj: variant(job, func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = "" }),
			want: []wantErr{required("spec.template.spec.restartPolicy")}},
		{name: "unknown completionMode", obj: variant(job, func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.CompletionMode("Sometimes")) }),
			want: []wantErr{notSupported("spec.completionMode")}},
		{name: "Indexed without completions", obj: variant(job, func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Parallelism = ptr.To(int32(2))
		}), want: []wantErr{required("spec.completions")}},
	})
	suspended := variant(job, func(j *batchv1.Job) { j.Spec.Suspend = ptr.To(true) })
	runUpdates(t, []updateCase{
		{name: "parallelism may change", old: job, edit: hook(func(j *batchv1.Job) { j.Spec.Parallelism = ptr.To(int32(2)) })},
		{name: "selector is immutable", old: job, edit: hook(func(j *batchv1.Job) { j.Spec.Selector.MatchLabels[batchv1.JobNameLabel] = "pi" }),
			want: []wantErr{invalid("spec.selector")}},
		{name: "template is immutable when not suspended", old: job, edit: hook(func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:2.0" }),
			want: []wantErr{invalid("spec.template")}},
		{name: "node selector of a suspended job that never started", old: suspended, edit: hook(func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
		})},
		{name: "node selector of a running job", old: job, edit: hook(func(j *batchv1.Job) {
			j.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
		}), want: []wantErr{invalid("spec.template")}},
		{name: "completions of a NonIndexed job", old: job, edit: hook(func(j *batchv1.Job) { j.Spec.Completions = ptr.To(int32(5)) }),
			want: []wantErr{invalid("spec.completions")}},
		{name: "completionMode is immutable", old: job, edit: hook(func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion) }),
			want: []wantErr{invalid("spec.completionMode")}},
		{name: "status write keeps spec", old: job, status: true, edit: hook(func(j *batchv1.Job) {
			j.Spec.Parallelism = ptr.To(int32(7))
			start := metav1.Unix(2000, 0)
			j.Status = batchv1.JobStatus{Active: 1, StartTime: &start}
		}), check: checkedUpdate(func(t *testing.T, j, old *batchv1.Job) {
			if *j.Spec.Parallelism != 1 {
				t.Errorf("got parallelism %d, want the stored 1", *j.Spec.Parallelism)
			}
			if j.Status.Active != 1 || j.Status.StartTime == nil {
				t.Errorf("got status %+v, want active 1 with a start time", j.Status)
			}
		})},
		{name: "negative status count", old: job, status: true, edit: hook(func(j *batchv1.Job) { j.Status.Succeeded = -1 }),
			want: []wantErr{invalid("status.succeeded"), invalid("status.succeeded")}},
	})
}

func newCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: nsMeta("report"),
		Spec: batchv1.CronJobSpec{
			Schedule:    "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: oneContainerTemplate(nil, corev1.RestartPolicyOnFailure)}},
		},
	}
}

func TestKindCronJob(t *testing.T) {
	cj := newCronJob()
	runCreates(t, []createCase{
		{name: "defaults", obj: cj, check: checked(func(t *testing.T, c *batchv1.CronJob) {
			if c.Spec.ConcurrencyPolicy != batchv1.AllowConcurrent || ptr.Deref(c.Spec.Suspend, true) {
				t.Errorf("got concurrencyPolicy %q suspend %v, want Allow and false", c.Spec.ConcurrencyPolicy, c.Spec.Suspend)
			}
			if ptr.Deref(c.Spec.SuccessfulJobsHistoryLimit, 0) != 3 || ptr.Deref(c.Spec.FailedJobsHistoryLimit, 0) != 1 {
				t.Errorf("got history limits %v/%v, want 3/1", c.Spec.SuccessfulJobsHistoryLimit, c.Spec.FailedJobsHistoryLimit)
			}
		})},
		{name: "a time zone", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Europe/Berlin") })},
		{name: "a macro schedule", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.Schedule = "@hourly" })},
		{name: "schedule not cron", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.Schedule = "nope" }), want: []wantErr{invalid("spec.schedule")}},
		{name: "no schedule", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.Schedule = "" }), want: []wantErr{required("spec.schedule")}},
		{name: "TZ in the schedule", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" }), want: []wantErr{invalid("spec.schedule")}},
		{name: "unknown time zone", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Mars/Olympus_Mons") }), want: []wantErr{invalid("spec.timeZone")}},
		{name: "time zone Local", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Local") }), want: []wantErr{invalid("spec.timeZone")}},
		{name: "unknown concurrencyPolicy", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }),
			want: []wantErr{notSupported("spec.concurrencyPolicy")}},
		{name: "negative history limit", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.SuccessfulJobsHistoryLimit = ptr.To(int32(-1)) }),
			want: []wantErr{invalid("spec.successfulJobsHistoryLimit")}},
		{name: "job template restartPolicy Always", obj: variant(cj, func(c *batchv1.CronJob) { c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = "" }),
			want: []wantErr{required("spec.jobTemplate.spec.template.spec.restartPolicy")}},
		{name: "name over 52 characters", obj: variant(cj, func(c *batchv1.CronJob) { c.Name = strings.Repeat("r", 53) }), want: []wantErr{invalid("metadata.name")}},
	})
	runUpdates(t, []updateCase{
		{name: "schedule and suspend may change", old: cj, edit: hook(func(c *batchv1.CronJob) {
			c.Spec.Schedule = "0 3 * * *"
			c.Spec.Suspend = ptr.To(true)
		})},
		{name: "schedule stays valid", old: cj, edit: hook(func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }), want: []wantErr{invalid("spec.schedule")}},
		{name: "status write keeps spec", old: cj, status: true, edit: hook(func(c *batchv1.CronJob) {
			c.Spec.Schedule = "@daily"
			last := metav1.Unix(3000, 0)
			c.Status.LastScheduleTime = &last
		}), check: checkedUpdate(func(t *testing.T, c, old *batchv1.CronJob) {
			if c.Spec.Schedule != "*/5 * * * *" || c.Status.LastScheduleTime == nil {
				t.Errorf("got schedule %q lastScheduleTime %v, want the stored schedule and a time", c.Spec.Schedule, c.Status.LastScheduleTime)
			}
		})},
	})
}

func TestKindHorizontalPodAutoscaler(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: nsMeta("web"),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MaxReplicas:    5,
		},
	}
	runCreates(t, []createCase{
		{name: "minReplicas 1 and an 80% CPU target", obj: hpa, check: checked(func(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler) {
			if ptr.Deref(h.Spec.MinReplicas, 0) != 1 {
				t.Errorf("got minReplicas %v, want 1", h.Spec.MinReplicas)
			}
			want := []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(80))},
			}}}
			if diff := cmp.Diff(want, h.Spec.Metrics); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
		})},
		{name: "behavior filled in", obj: variant(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr.To(int32(60))}}
		}), check: checked(func(t *testing.T, h *autoscalingv2.HorizontalPodAutoscaler) {
			b := h.Spec.Behavior
			if b.ScaleUp == nil || ptr.Deref(b.ScaleUp.StabilizationWindowSeconds, -1) != 0 || ptr.Deref(b.ScaleDown.SelectPolicy, "") != autoscalingv2.MaxChangePolicySelect {
				t.Errorf("got behavior %+v, want scaleUp with a 0s window and scaleDown selectPolicy Max", b)
			}
		})},
		{name: "minReplicas 0 with only a resource metric", obj: variant(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To(int32(0)) }),
			want: []wantErr{forbidden("spec.metrics")}},
		{name: "minReplicas negative", obj: variant(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = ptr.To(int32(-1)) }),
			want: []wantErr{invalid("spec.minReplicas")}},
		{name: "maxReplicas below minReplicas", obj: variant(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = ptr.To(int32(3))
			h.Spec.MaxReplicas = 2
		}), want: []wantErr{invalid("spec.maxReplicas")}},
		// 0 is also below the defaulted minReplicas 1.
		{name: "no maxReplicas", obj: variant(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }),
			want: []wantErr{required("spec.maxReplicas"), invalid("spec.maxReplicas")}},
		{name: "no target kind", obj: variant(hpa, func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "" }),
			want: []wantErr{required("spec.scaleTargetRef.kind")}},
	})
	runUpdates(t, []updateCase{
		{name: "maxReplicas may change", old: hpa, edit: hook(func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 10 })},
		{name: "status write keeps spec", old: hpa, status: true, edit: hook(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MaxReplicas = 50
			h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3}
		}), check: checkedUpdate(func(t *testing.T, h, old *autoscalingv2.HorizontalPodAutoscaler) {
			if h.Spec.MaxReplicas != 5 || h.Status.DesiredReplicas != 3 {
				t.Errorf("got maxReplicas %d desiredReplicas %d, want the stored 5 and 3", h.Spec.MaxReplicas, h.Status.DesiredReplicas)
			}
		})},
	})
}

func TestKindPodDisruptionBudget(t *testing.T) {
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: nsMeta("web"),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(1)),
			Selector:     &metav1.LabelSelector{MatchLabels: webLabels},
		},
	}
	runCreates(t, []createCase{
		{name: "valid", obj: pdb},
		{name: "a percentage", obj: variant(pdb, func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromString("50%")) })},
		{name: "minAvailable and maxUnavailable", obj: variant(pdb, func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1)) }),
			want: []wantErr{invalid("spec")}},
		{name: "percentage over 100", obj: variant(pdb, func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromString("150%")) }),
			want: []wantErr{invalid("spec.minAvailable")}},
		{name: "negative maxUnavailable", obj: variant(pdb, func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = nil
			p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(-1))
		}), want: []wantErr{invalid("spec.maxUnavailable")}},
		{name: "unknown unhealthyPodEvictionPolicy", obj: variant(pdb, func(p *policyv1.PodDisruptionBudget) {
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To(policyv1.UnhealthyPodEvictionPolicyType("Never"))
		}), want: []wantErr{notSupported("spec.unhealthyPodEvictionPolicy")}},
	})
	runUpdates(t, []updateCase{
		{name: "selector may change", old: pdb, edit: hook(func(p *policyv1.PodDisruptionBudget) { p.Spec.Selector.MatchLabels = map[string]string{"app": "api"} })},
		{name: "status write keeps spec", old: pdb, status: true, edit: hook(func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = ptr.To(intstr.FromInt32(9))
			p.Status = policyv1.PodDisruptionBudgetStatus{CurrentHealthy: 2, DesiredHealthy: 1, ExpectedPods: 2, DisruptionsAllowed: 1}
		}), check: checkedUpdate(func(t *testing.T, p, old *policyv1.PodDisruptionBudget) {
			if p.Spec.MinAvailable.IntValue() != 1 || p.Status.DisruptionsAllowed != 1 {
				t.Errorf("got minAvailable %s disruptionsAllowed %d, want the stored 1 and 1", p.Spec.MinAvailable, p.Status.DisruptionsAllowed)
			}
		})},
		{name: "negative disruptionsAllowed", old: pdb, status: true, edit: hook(func(p *policyv1.PodDisruptionBudget) { p.Status.DisruptionsAllowed = -1 }),
			want: []wantErr{invalid("status.disruptionsAllowed")}},
	})
}

func TestKindNetworkPolicy(t *testing.T) {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: nsMeta("db"),
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: webLabels}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: ptr.To(intstr.FromInt32(5432))}},
			}},
		},
	}
	port := func(p *networkingv1.NetworkPolicy) *networkingv1.NetworkPolicyPort {
		return &p.Spec.Ingress[0].Ports[0]
	}
	runCreates(t, []createCase{
		{name: "policyTypes Ingress and protocol TCP", obj: np, check: checked(func(t *testing.T, p *networkingv1.NetworkPolicy) {
			if !cmp.Equal(p.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
				t.Errorf("got policyTypes %v, want [Ingress]", p.Spec.PolicyTypes)
			}
			if got := ptr.Deref(port(p).Protocol, ""); got != corev1.ProtocolTCP {
				t.Errorf("got protocol %q, want TCP", got)
			}
		})},
		{name: "egress rules add Egress", obj: variant(np, func(p *networkingv1.NetworkPolicy) { p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{}} }),
			check: checked(func(t *testing.T, p *networkingv1.NetworkPolicy) {
				if len(p.Spec.PolicyTypes) != 2 {
					t.Errorf("got policyTypes %v, want [Ingress Egress]", p.Spec.PolicyTypes)
				}
			})},
		{name: "port out of range", obj: variant(np, func(p *networkingv1.NetworkPolicy) { port(p).Port = ptr.To(intstr.FromInt32(70000)) }),
			want: []wantErr{invalid("spec.ingress[0].ports[0].port")}},
		{name: "named port not a port name", obj: variant(np, func(p *networkingv1.NetworkPolicy) { port(p).Port = ptr.To(intstr.FromString("Postgres_SQL")) }),
			want: []wantErr{invalid("spec.ingress[0].ports[0].port")}},
		{name: "protocol ICMP", obj: variant(np, func(p *networkingv1.NetworkPolicy) { port(p).Protocol = ptr.To(corev1.Protocol("ICMP")) }),
			want: []wantErr{notSupported("spec.ingress[0].ports[0].protocol")}},
		{name: "endPort below port", obj: variant(np, func(p *networkingv1.NetworkPolicy) { port(p).EndPort = ptr.To(int32(80)) }),
			want: []wantErr{invalid("spec.ingress[0].ports[0].endPort")}},
		{name: "bad ipBlock cidr", obj: variant(np, func(p *networkingv1.NetworkPolicy) {
			p.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/33"}}}
		}), want: []wantErr{invalid("spec.ingress[0].from[0].ipBlock.cidr")}},
		{name: "unknown policy type", obj: variant(np, func(p *networkingv1.NetworkPolicy) { p.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"} }),
			want: []wantErr{notSupported("spec.policyTypes[0]")}},
	})
	runUpdates(t, []updateCase{
		{name: "a spec change moves generation", old: np, edit: hook(func(p *networkingv1.NetworkPolicy) { port(p).Port = ptr.To(intstr.FromInt32(5433)) }),
			check: checkedUpdate(func(t *testing.T, p, old *networkingv1.NetworkPolicy) {
				if old.Generation != 1 || p.Generation != 2 {
					t.Errorf("got generation %d after %d, want 2 after 1", p.Generation, old.Generation)
				}
			})},
		{name: "ports stay valid", old: np, edit: hook(func(p *networkingv1.NetworkPolicy) { port(p).Port = ptr.To(intstr.FromInt32(0)) }),
			want: []wantErr{invalid("spec.ingress[0].ports[0].port")}},
	})
}

func newIngress() *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: nsMeta("web"),
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
			Host: "example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path:     "/",
				PathType: ptr.To(networkingv1.PathTypePrefix),
				Backend:  networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			}}}},
		}}},
	}
}

func TestKindIngress(t *testing.T) {
	ing := newIngress()
	path := func(i *networkingv1.Ingress) *networkingv1.HTTPIngressPath { return &i.Spec.Rules[0].HTTP.Paths[0] }
	runCreates(t, []createCase{
		{name: "valid", obj: ing},
		{name: "wildcard host", obj: variant(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.com" })},
		{name: "no pathType", obj: variant(ing, func(i *networkingv1.Ingress) { path(i).PathType = nil }), want: []wantErr{required("spec.rules[0].http.paths[0].pathType")}},
		{name: "unknown pathType", obj: variant(ing, func(i *networkingv1.Ingress) { path(i).PathType = ptr.To(networkingv1.PathType("Regex")) }),
			want: []wantErr{notSupported("spec.rules[0].http.paths[0].pathType")}},
		{name: "relative path", obj: variant(ing, func(i *networkingv1.Ingress) { path(i).Path = "api" }), want: []wantErr{invalid("spec.rules[0].http.paths[0].path")}},
		{name: "host not a DNS name", obj: variant(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "Example_com" }), want: []wantErr{invalid("spec.rules[0].host")}},
		{name: "host an IP", obj: variant(ing, func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }), want: []wantErr{invalid("spec.rules[0].host")}},
		{name: "neither rules nor defaultBackend", obj: variant(ing, func(i *networkingv1.Ingress) { i.Spec.Rules = nil }), want: []wantErr{invalid("spec")}},
		{name: "backend without a port", obj: variant(ing, func(i *networkingv1.Ingress) { path(i).Backend.Service.Port = networkingv1.ServiceBackendPort{} }),
			want: []wantErr{required("spec.rules[0].http.paths[0].backend")}},
	})
	runUpdates(t, []updateCase{
		{name: "rules may change", old: ing, edit: hook(func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "www.example.com" })},
		{name: "status write keeps spec", old: ing, status: true, edit: hook(func(i *networkingv1.Ingress) {
			i.Spec.Rules = nil
			i.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.10"}}
		}), check: checkedUpdate(func(t *testing.T, i, old *networkingv1.Ingress) {
			if len(i.Spec.Rules) != 1 || len(i.Status.LoadBalancer.Ingress) != 1 {
				t.Errorf("got %d rules and %d load-balancer ingresses, want the stored rule and 1", len(i.Spec.Rules), len(i.Status.LoadBalancer.Ingress))
			}
		})},
		{name: "status with a bad IP", old: ing, status: true, edit: hook(func(i *networkingv1.Ingress) {
			i.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "not-an-ip"}}
		}), want: []wantErr{invalid("status.loadBalancer.ingress[0].ip")}},
	})
}

func TestKindIngressClass(t *testing.T) {
	ic := &networkingv1.IngressClass{ObjectMeta: clusterMeta("nginx"), Spec: networkingv1.IngressClassSpec{Controller: "example.com/ingress-controller"}}
	runCreates(t, []createCase{
		{name: "valid", obj: ic},
		{name: "no controller", obj: variant(ic, func(i *networkingv1.IngressClass) { i.Spec.Controller = "" }), want: []wantErr{required("spec.controller")}},
		{name: "controller not domain-prefixed", obj: variant(ic, func(i *networkingv1.IngressClass) { i.Spec.Controller = "nginx" }), want: []wantErr{invalid("spec.controller")}},
	})
	runUpdates(t, []updateCase{
		{name: "controller is immutable", old: ic, edit: hook(func(i *networkingv1.IngressClass) { i.Spec.Controller = "example.com/other" }),
			want: []wantErr{invalid("spec.controller")}},
	})
}

var readPods = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}

func TestKindClusterRole(t *testing.T) {
	cr := &rbacv1.ClusterRole{ObjectMeta: clusterMeta("pod-reader"), Rules: []rbacv1.PolicyRule{readPods}}
	runCreates(t, []createCase{
		{name: "valid", obj: cr},
		{name: "non-resource URLs", obj: variant(cr, func(r *rbacv1.ClusterRole) {
			r.Rules = []rbacv1.PolicyRule{{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}}}
		})},
		{name: "aggregated", obj: variant(cr, func(r *rbacv1.ClusterRole) {
			r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"rbac.example.com/aggregate-to-view": "true"}}}}
		})},
		{name: "rule without verbs", obj: variant(cr, func(r *rbacv1.ClusterRole) { r.Rules[0].Verbs = nil }), want: []wantErr{required("rules[0].verbs")}},
		{name: "rule without apiGroups", obj: variant(cr, func(r *rbacv1.ClusterRole) { r.Rules[0].APIGroups = nil }), want: []wantErr{required("rules[0].apiGroups")}},
		{name: "resources and non-resource URLs", obj: variant(cr, func(r *rbacv1.ClusterRole) { r.Rules[0].NonResourceURLs = []string{"/healthz"} }),
			want: []wantErr{invalid("rules[0].nonResourceURLs")}},
		{name: "aggregation without selectors", obj: variant(cr, func(r *rbacv1.ClusterRole) { r.AggregationRule = &rbacv1.AggregationRule{} }),
			want: []wantErr{required("aggregationRule.clusterRoleSelectors")}},
	})
	runUpdates(t, []updateCase{
		{name: "rules may change", old: cr, edit: hook(func(r *rbacv1.ClusterRole) { r.Rules[0].Verbs = append(r.Rules[0].Verbs, "delete") })},
		{name: "rules stay valid", old: cr, edit: hook(func(r *rbacv1.ClusterRole) { r.Rules[0].Verbs = nil }), want: []wantErr{required("rules[0].verbs")}},
	})
}

func TestKindClusterRoleBinding(t *testing.T) {
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: clusterMeta("read-pods"),
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "builder", Namespace: "default"}},
	}
	runCreates(t, []createCase{
		{name: "valid", obj: crb},
		{name: "roleRef to a Role", obj: variant(crb, func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Kind = "Role" }), want: []wantErr{notSupported("roleRef.kind")}},
		{name: "roleRef without a name", obj: variant(crb, func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Name = "" }), want: []wantErr{required("roleRef.name")}},
		{name: "service account without a namespace", obj: variant(crb, func(b *rbacv1.ClusterRoleBinding) { b.Subjects[0].Namespace = "" }),
			want: []wantErr{required("subjects[0].namespace")}},
		{name: "unknown subject kind", obj: variant(crb, func(b *rbacv1.ClusterRoleBinding) { b.Subjects[0].Kind = "Robot" }), want: []wantErr{notSupported("subjects[0].kind")}},
	})
	runUpdates(t, []updateCase{
		{name: "subjects may change", old: crb, edit: hook(func(b *rbacv1.ClusterRoleBinding) {
			b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jane"})
		})},
		{name: "roleRef is immutable", old: crb, edit: hook(func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Name = "admin" }), want: []wantErr{invalid("roleRef")}},
	})
}

func TestKindRole(t *testing.T) {
	role := &rbacv1.Role{ObjectMeta: nsMeta("pod-reader"), Rules: []rbacv1.PolicyRule{readPods}}
	runCreates(t, []createCase{
		{name: "valid", obj: role},
		{name: "rule without verbs", obj: variant(role, func(r *rbacv1.Role) { r.Rules[0].Verbs = nil }), want: []wantErr{required("rules[0].verbs")}},
		{name: "rule without resources", obj: variant(role, func(r *rbacv1.Role) { r.Rules[0].Resources = nil }), want: []wantErr{required("rules[0].resources")}},
		{name: "non-resource URLs in a namespace", obj: variant(role, func(r *rbacv1.Role) {
			r.Rules = []rbacv1.PolicyRule{{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}}}
		}), want: []wantErr{invalid("rules[0].nonResourceURLs")}},
	})
	runUpdates(t, []updateCase{
		{name: "rules may change", old: role, edit: hook(func(r *rbacv1.Role) {
			r.Rules = append(r.Rules, rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}})
		})},
		{name: "rules stay valid", old: role, edit: hook(func(r *rbacv1.Role) { r.Rules[0].Resources = nil }), want: []wantErr{required("rules[0].resources")}},
	})
}

func TestKindRoleBinding(t *testing.T) {
	rb := &rbacv1.RoleBinding{
		ObjectMeta: nsMeta("read-pods"),
		RoleRef:    rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "jane"}},
	}
	runCreates(t, []createCase{
		{name: "roleRef and subject apiGroups defaulted", obj: rb, check: checked(func(t *testing.T, b *rbacv1.RoleBinding) {
			if b.RoleRef.APIGroup != rbacv1.GroupName || b.Subjects[0].APIGroup != rbacv1.GroupName {
				t.Errorf("got roleRef.apiGroup %q subjects[0].apiGroup %q, want both %s", b.RoleRef.APIGroup, b.Subjects[0].APIGroup, rbacv1.GroupName)
			}
		})},
		{name: "a ClusterRole", obj: variant(rb, func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "ClusterRole" })},
		{name: "service account without a namespace", obj: variant(rb, func(b *rbacv1.RoleBinding) {
			b.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "builder"}}
		})},
		{name: "roleRef kind Foo", obj: variant(rb, func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "Foo" }), want: []wantErr{notSupported("roleRef.kind")}},
		{name: "roleRef in another group", obj: variant(rb, func(b *rbacv1.RoleBinding) { b.RoleRef.APIGroup = "example.com" }), want: []wantErr{notSupported("roleRef.apiGroup")}},
		{name: "subject without a name", obj: variant(rb, func(b *rbacv1.RoleBinding) { b.Subjects[0].Name = "" }), want: []wantErr{required("subjects[0].name")}},
		{name: "user in the core group", obj: variant(rb, func(b *rbacv1.RoleBinding) { b.Subjects[0].APIGroup = "v1" }), want: []wantErr{notSupported("subjects[0].apiGroup")}},
	})
	runUpdates(t, []updateCase{
		{name: "roleRef is immutable", old: rb, edit: hook(func(b *rbacv1.RoleBinding) { b.RoleRef.Name = "pod-writer" }), want: []wantErr{invalid("roleRef")}},
		{name: "roleRef kind is immutable", old: rb, edit: hook(func(b *rbacv1.RoleBinding) { b.RoleRef.Kind = "ClusterRole" }), want: []wantErr{invalid("roleRef")}},
	})
}

func TestKindStorageClass(t *testing.T) {
	sc := &storagev1.StorageClass{ObjectMeta: clusterMeta("fast"), Provisioner: "example.com/nfs", Parameters: map[string]string{"tier": "ssd"}}
	runCreates(t, []createCase{
		{name: "reclaimPolicy Delete and binding Immediate", obj: sc, check: checked(func(t *testing.T, s *storagev1.StorageClass) {
			if ptr.Deref(s.ReclaimPolicy, "") != corev1.PersistentVolumeReclaimDelete || ptr.Deref(s.VolumeBindingMode, "") != storagev1.VolumeBindingImmediate {
				t.Errorf("got reclaimPolicy %v volumeBindingMode %v, want Delete and Immediate", s.ReclaimPolicy, s.VolumeBindingMode)
			}
		})},
		{name: "no provisioner", obj: variant(sc, func(s *storagev1.StorageClass) { s.Provisioner = "" }), want: []wantErr{required("provisioner")}},
		{name: "provisioner not a qualified name", obj: variant(sc, func(s *storagev1.StorageClass) { s.Provisioner = "nfs provisioner" }), want: []wantErr{invalid("provisioner")}},
		{name: "reclaimPolicy Recycle", obj: variant(sc, func(s *storagev1.StorageClass) { s.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRecycle) }),
			want: []wantErr{notSupported("reclaimPolicy")}},
		{name: "unknown volumeBindingMode", obj: variant(sc, func(s *storagev1.StorageClass) { s.VolumeBindingMode = ptr.To(storagev1.VolumeBindingMode("Later")) }),
			want: []wantErr{notSupported("volumeBindingMode")}},
	})
	runUpdates(t, []updateCase{
		{name: "allowVolumeExpansion may change", old: sc, edit: hook(func(s *storagev1.StorageClass) { s.AllowVolumeExpansion = ptr.To(true) })},
		{name: "parameters are immutable", old: sc, edit: hook(func(s *storagev1.StorageClass) { s.Parameters["tier"] = "hdd" }), want: []wantErr{invalid("parameters")}},
		{name: "provisioner is immutable", old: sc, edit: hook(func(s *storagev1.StorageClass) { s.Provisioner = "example.com/ceph" }), want: []wantErr{invalid("provisioner")}},
		{name: "reclaimPolicy is immutable", old: sc, edit: hook(func(s *storagev1.StorageClass) { s.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain) }),
			want: []wantErr{invalid("reclaimPolicy")}},
	})
}

func TestKindCSIDriver(t *testing.T) {
	d := &storagev1.CSIDriver{ObjectMeta: clusterMeta("csi.example.com")}
	runCreates(t, []createCase{
		{name: "defaults", obj: d, check: checked(func(t *testing.T, d *storagev1.CSIDriver) {
			s := d.Spec
			if !ptr.Deref(s.AttachRequired, false) || ptr.Deref(s.PodInfoOnMount, true) || ptr.Deref(s.StorageCapacity, true) || ptr.Deref(s.RequiresRepublish, true) {
				t.Errorf("got attachRequired %v podInfoOnMount %v storageCapacity %v requiresRepublish %v, want true false false false",
					s.AttachRequired, s.PodInfoOnMount, s.StorageCapacity, s.RequiresRepublish)
			}
			if !cmp.Equal(s.VolumeLifecycleModes, []storagev1.VolumeLifecycleMode{storagev1.VolumeLifecyclePersistent}) {
				t.Errorf("got volumeLifecycleModes %v, want [Persistent]", s.VolumeLifecycleModes)
			}
			if ptr.Deref(s.FSGroupPolicy, "") != storagev1.ReadWriteOnceWithFSTypeFSGroupPolicy {
				t.Errorf("got fsGroupPolicy %v, want ReadWriteOnceWithFSType", s.FSGroupPolicy)
			}
		})},
		{name: "unknown lifecycle mode", obj: variant(d, func(d *storagev1.CSIDriver) { d.Spec.VolumeLifecycleModes = []storagev1.VolumeLifecycleMode{"Forever"} }),
			want: []wantErr{notSupported("spec.volumeLifecycleModes")}},
		{name: "unknown fsGroupPolicy", obj: variant(d, func(d *storagev1.CSIDriver) { d.Spec.FSGroupPolicy = ptr.To(storagev1.FSGroupPolicy("Sometimes")) }),
			want: []wantErr{notSupported("spec.fsGroupPolicy")}},
		{name: "name not a DNS subdomain", obj: variant(d, func(d *storagev1.CSIDriver) { d.Name = "CSI_Example" }), want: []wantErr{invalid("metadata.name")}},
	})
	runUpdates(t, []updateCase{
		{name: "podInfoOnMount may change", old: d, edit: hook(func(d *storagev1.CSIDriver) { d.Spec.PodInfoOnMount = ptr.To(true) })},
		// Kubernetes' path has the typo.
		{name: "attachRequired is immutable", old: d, edit: hook(func(d *storagev1.CSIDriver) { d.Spec.AttachRequired = ptr.To(false) }),
			want: []wantErr{invalid("spec.attachedRequired")}},
	})
}

func TestKindCSINode(t *testing.T) {
	n := &storagev1.CSINode{ObjectMeta: clusterMeta("node1"), Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{{
		Name: "csi.example.com", NodeID: "node1", TopologyKeys: []string{"topology.example.com/zone"},
		Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To(int32(16))},
	}}}}
	runCreates(t, []createCase{
		{name: "valid", obj: n},
		{name: "driver without a node ID", obj: variant(n, func(n *storagev1.CSINode) { n.Spec.Drivers[0].NodeID = "" }), want: []wantErr{required("spec.drivers[0].nodeID")}},
		{name: "the same driver twice", obj: variant(n, func(n *storagev1.CSINode) { n.Spec.Drivers = append(n.Spec.Drivers, n.Spec.Drivers[0]) }),
			want: []wantErr{duplicate("spec.drivers[1].name")}},
		{name: "negative allocatable count", obj: variant(n, func(n *storagev1.CSINode) { n.Spec.Drivers[0].Allocatable.Count = ptr.To(int32(-1)) }),
			want: []wantErr{invalid("spec.drivers[0].allocatable.count")}},
	})
	runUpdates(t, []updateCase{
		{name: "a driver may be added", old: n, edit: hook(func(n *storagev1.CSINode) {
			n.Spec.Drivers = append(n.Spec.Drivers, storagev1.CSINodeDriver{Name: "nfs.example.com", NodeID: "node1"})
		})},
		{name: "a driver's node ID is immutable", old: n, edit: hook(func(n *storagev1.CSINode) { n.Spec.Drivers[0].NodeID = "node2" }),
			want: []wantErr{invalid("spec.drivers")}},
	})
}

func TestKindCSIStorageCapacity(t *testing.T) {
	c := &storagev1.CSIStorageCapacity{ObjectMeta: nsMeta("fast-zone-a"), StorageClassName: "fast", Capacity: ptr.To(resource.MustParse("100Gi"))}
	runCreates(t, []createCase{
		{name: "valid", obj: c},
		{name: "no storage class", obj: variant(c, func(c *storagev1.CSIStorageCapacity) { c.StorageClassName = "" }), want: []wantErr{invalid("storageClassName")}},
		{name: "bad topology selector", obj: variant(c, func(c *storagev1.CSIStorageCapacity) {
			c.NodeTopology = &metav1.LabelSelector{MatchLabels: map[string]string{"zone": "a b"}}
		}), want: []wantErr{invalid("nodeTopology.matchLabels")}},
	})
	runUpdates(t, []updateCase{
		{name: "capacity may change", old: c, edit: hook(func(c *storagev1.CSIStorageCapacity) { c.Capacity = ptr.To(resource.MustParse("50Gi")) })},
		{name: "storage class is immutable", old: c, edit: hook(func(c *storagev1.CSIStorageCapacity) { c.StorageClassName = "slow" }),
			want: []wantErr{invalid("storageClassName")}},
	})
}

func TestKindVolumeAttachment(t *testing.T) {
	va := &storagev1.VolumeAttachment{ObjectMeta: clusterMeta("csi-1234"), Spec: storagev1.VolumeAttachmentSpec{
		Attacher: "csi.example.com", NodeName: "node1", Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: ptr.To("pv1")},
	}}
	runCreates(t, []createCase{
		{name: "valid", obj: va},
		{name: "no attacher", obj: variant(va, func(v *storagev1.VolumeAttachment) { v.Spec.Attacher = "" }), want: []wantErr{required("spec.attacher")}},
		{name: "no node", obj: variant(va, func(v *storagev1.VolumeAttachment) { v.Spec.NodeName = "" }), want: []wantErr{invalid("spec.nodeName")}},
		{name: "no source", obj: variant(va, func(v *storagev1.VolumeAttachment) { v.Spec.Source = storagev1.VolumeAttachmentSource{} }), want: []wantErr{required("spec.source")}},
	})
	runUpdates(t, []updateCase{
		{name: "spec is immutable", old: va, edit: hook(func(v *storagev1.VolumeAttachment) { v.Spec.NodeName = "node2" }), want: []wantErr{invalid("spec")}},
		{name: "status write keeps spec", old: va, status: true, edit: hook(func(v *storagev1.VolumeAttachment) {
			v.Spec.NodeName = "node2"
			v.Status.Attached = true
		}), check: checkedUpdate(func(t *testing.T, v, old *storagev1.VolumeAttachment) {
			if v.Spec.NodeName != "node1" || !v.Status.Attached {
				t.Errorf("got nodeName %q attached %v, want the stored node1 and true", v.Spec.NodeName, v.Status.Attached)
			}
		})},
	})
}

func TestKindPriorityClass(t *testing.T) {
	pc := &schedulingv1.PriorityClass{ObjectMeta: clusterMeta("batch-high"), Value: 1000, Description: "batch work that preempts"}
	runCreates(t, []createCase{
		{name: "preemptionPolicy PreemptLowerPriority", obj: pc, check: checked(func(t *testing.T, p *schedulingv1.PriorityClass) {
			if ptr.Deref(p.PreemptionPolicy, "") != corev1.PreemptLowerPriority {
				t.Errorf("got preemptionPolicy %v, want PreemptLowerPriority", p.PreemptionPolicy)
			}
		})},
		{name: "Never", obj: variant(pc, func(p *schedulingv1.PriorityClass) { p.PreemptionPolicy = ptr.To(corev1.PreemptNever) })},
		{name: "value over one billion", obj: variant(pc, func(p *schedulingv1.PriorityClass) { p.Value = 2000000000 }), want: []wantErr{forbidden("value")}},
		{name: "reserved system- prefix", obj: variant(pc, func(p *schedulingv1.PriorityClass) { p.Name = "system-batch" }), want: []wantErr{forbidden("metadata.name")}},
		{name: "unknown preemptionPolicy", obj: variant(pc, func(p *schedulingv1.PriorityClass) { p.PreemptionPolicy = ptr.To(corev1.PreemptionPolicy("Sometimes")) }),
			want: []wantErr{notSupported("preemptionPolicy")}},
	})
	runUpdates(t, []updateCase{
		{name: "description may change", old: pc, edit: hook(func(p *schedulingv1.PriorityClass) { p.Description = "changed" })},
		{name: "value is immutable", old: pc, edit: hook(func(p *schedulingv1.PriorityClass) { p.Value = 2000 }), want: []wantErr{forbidden("value")}},
		{name: "preemptionPolicy is immutable", old: pc, edit: hook(func(p *schedulingv1.PriorityClass) { p.PreemptionPolicy = ptr.To(corev1.PreemptNever) }),
			want: []wantErr{invalid("preemptionPolicy")}},
	})
}

func TestKindRuntimeClass(t *testing.T) {
	rc := &nodev1.RuntimeClass{ObjectMeta: clusterMeta("gvisor"), Handler: "runsc"}
	runCreates(t, []createCase{
		{name: "valid", obj: rc},
		{name: "with overhead", obj: variant(rc, func(r *nodev1.RuntimeClass) {
			r.Overhead = &nodev1.Overhead{PodFixed: quantities("cpu", "250m", "memory", "64Mi")}
		})},
		{name: "no handler", obj: variant(rc, func(r *nodev1.RuntimeClass) { r.Handler = "" }), want: []wantErr{required("handler")}},
		{name: "handler not a DNS label", obj: variant(rc, func(r *nodev1.RuntimeClass) { r.Handler = "Run_SC" }), want: []wantErr{invalid("handler")}},
		{name: "negative overhead", obj: variant(rc, func(r *nodev1.RuntimeClass) { r.Overhead = &nodev1.Overhead{PodFixed: quantities("cpu", "-1")} }),
			// Validated as a container's limits, so named so.
			want: []wantErr{invalid("overhead.limits[cpu]")}},
	})
	runUpdates(t, []updateCase{
		{name: "handler is immutable", old: rc, edit: hook(func(r *nodev1.RuntimeClass) { r.Handler = "runc" }), want: []wantErr{invalid("handler")}},
	})
}

// csrPEM is a PEM certificate request for a fresh key.
func csrPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "jane", Organization: []string{"dev"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func newCSR(t *testing.T) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: clusterMeta("jane"),
		Spec: certificatesv1.CertificateSigningRequestSpec{
			Request:    csrPEM(t),
			SignerName: "example.com/signer",
			Usages:     []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		},
	}
}

func TestKindCertificateSigningRequest(t *testing.T) {
	csr := newCSR(t)
	runCreates(t, []createCase{
		{name: "valid", obj: csr},
		{name: "no signerName", obj: variant(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" }), want: []wantErr{required("spec.signerName")}},
		{name: "the legacy signer", obj: variant(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "kubernetes.io/legacy-unknown" }),
			want: []wantErr{invalid("spec.signerName")}},
		{name: "no usages", obj: variant(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil }), want: []wantErr{required("spec.usages")}},
		{name: "unknown usage", obj: variant(csr, func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{"teleport"}
		}),
			want: []wantErr{notSupported("spec.usages[0]")}},
		{name: "request not PEM", obj: variant(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("hello") }),
			want: []wantErr{invalid("spec.request")}},
		{name: "expiration under ten minutes", obj: variant(csr, func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To(int32(60)) }),
			want: []wantErr{invalid("spec.expirationSeconds")}},
	})
	runUpdates(t, []updateCase{
		{name: "spec changes are dropped", old: csr, edit: hook(func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example.com/other" }),
			check: checkedUpdate(func(t *testing.T, c, old *certificatesv1.CertificateSigningRequest) {
				if c.Spec.SignerName != "example.com/signer" {
					t.Errorf("got signerName %q, want the stored example.com/signer", c.Spec.SignerName)
				}
			})},
		// Approval goes through the approval subresource: a status write
		// may not add it.
		{name: "status write adding Approved", old: csr, status: true, edit: hook(func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "ok"}}
		}), want: []wantErr{forbidden("status.conditions")}},
		{name: "status write: a certificate for an unapproved request", old: csr, status: true, edit: hook(func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Certificate = []byte("-----BEGIN CERTIFICATE-----\n")
		}), want: []wantErr{invalid("status.certificate")}},
	})
}

func webhookRules() []admissionregistrationv1.RuleWithOperations {
	return []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
	}}
}

func TestKindMutatingWebhookConfiguration(t *testing.T) {
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: clusterMeta("sidecar"), Webhooks: []admissionregistrationv1.MutatingWebhook{{
		Name:                    "sidecar.example.com",
		ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://webhook.example.com/mutate")},
		Rules:                   webhookRules(),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1"},
	}}}
	hook0 := func(m *admissionregistrationv1.MutatingWebhookConfiguration) *admissionregistrationv1.MutatingWebhook {
		return &m.Webhooks[0]
	}
	runCreates(t, []createCase{
		{name: "defaults", obj: mwc, check: checked(func(t *testing.T, m *admissionregistrationv1.MutatingWebhookConfiguration) {
			w := m.Webhooks[0]
			if ptr.Deref(w.FailurePolicy, "") != admissionregistrationv1.Fail || ptr.Deref(w.MatchPolicy, "") != admissionregistrationv1.Equivalent {
				t.Errorf("got failurePolicy %v matchPolicy %v, want Fail and Equivalent", w.FailurePolicy, w.MatchPolicy)
			}
			if ptr.Deref(w.ReinvocationPolicy, "") != admissionregistrationv1.NeverReinvocationPolicy || ptr.Deref(w.TimeoutSeconds, 0) != 10 {
				t.Errorf("got reinvocationPolicy %v timeoutSeconds %v, want Never and 10", w.ReinvocationPolicy, w.TimeoutSeconds)
			}
			if w.NamespaceSelector == nil || w.ObjectSelector == nil || ptr.Deref(w.Rules[0].Scope, "") != admissionregistrationv1.AllScopes {
				t.Errorf("got namespaceSelector %v objectSelector %v scope %v, want {} {} and *", w.NamespaceSelector, w.ObjectSelector, w.Rules[0].Scope)
			}
		})},
		{name: "no sideEffects", obj: variant(mwc, func(m *admissionregistrationv1.MutatingWebhookConfiguration) { hook0(m).SideEffects = nil }),
			want: []wantErr{required("webhooks[0].sideEffects")}},
		{name: "sideEffects Unknown", obj: variant(mwc, func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			hook0(m).SideEffects = ptr.To(admissionregistrationv1.SideEffectClassUnknown)
		}), want: []wantErr{notSupported("webhooks[0].sideEffects")}},
		{name: "no admissionReviewVersions", obj: variant(mwc, func(m *admissionregistrationv1.MutatingWebhookConfiguration) { hook0(m).AdmissionReviewVersions = nil }),
			want: []wantErr{required("webhooks[0].admissionReviewVersions")}},
		{name: "name not fully qualified", obj: variant(mwc, func(m *admissionregistrationv1.MutatingWebhookConfiguration) { hook0(m).Name = "sidecar" }),
			want: []wantErr{invalid("webhooks[0].name")}},
		{name: "plain http URL", obj: variant(mwc, func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			hook0(m).ClientConfig.URL = ptr.To("http://webhook.example.com/mutate")
		}), want: []wantErr{invalid("webhooks[0].clientConfig.url")}},
		{name: "neither url nor service", obj: variant(mwc, func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			hook0(m).ClientConfig = admissionregistrationv1.WebhookClientConfig{}
		}), want: []wantErr{required("webhooks[0].clientConfig")}},
	})
	runUpdates(t, []updateCase{
		{name: "a webhook may be added", old: mwc, edit: hook(func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			w := m.Webhooks[0]
			w.Name = "labels.example.com"
			m.Webhooks = append(m.Webhooks, w)
		})},
		{name: "reinvocationPolicy stays known", old: mwc, edit: hook(func(m *admissionregistrationv1.MutatingWebhookConfiguration) {
			hook0(m).ReinvocationPolicy = ptr.To(admissionregistrationv1.ReinvocationPolicyType("Always"))
		}), want: []wantErr{notSupported("webhooks[0].reinvocationPolicy")}},
	})
}

func TestKindValidatingWebhookConfiguration(t *testing.T) {
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: clusterMeta("policy"), Webhooks: []admissionregistrationv1.ValidatingWebhook{{
		Name: "policy.example.com",
		ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
			Namespace: "default", Name: "policy", Path: ptr.To("/validate"),
		}},
		Rules:                   webhookRules(),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNoneOnDryRun),
		AdmissionReviewVersions: []string{"v1", "v1beta1"},
	}}}
	hook0 := func(v *admissionregistrationv1.ValidatingWebhookConfiguration) *admissionregistrationv1.ValidatingWebhook {
		return &v.Webhooks[0]
	}
	runCreates(t, []createCase{
		{name: "service port 443 and the defaults", obj: vwc, check: checked(func(t *testing.T, v *admissionregistrationv1.ValidatingWebhookConfiguration) {
			w := v.Webhooks[0]
			if ptr.Deref(w.ClientConfig.Service.Port, 0) != 443 || ptr.Deref(w.FailurePolicy, "") != admissionregistrationv1.Fail || ptr.Deref(w.TimeoutSeconds, 0) != 10 {
				t.Errorf("got port %v failurePolicy %v timeoutSeconds %v, want 443 Fail 10", w.ClientConfig.Service.Port, w.FailurePolicy, w.TimeoutSeconds)
			}
		})},
		{name: "no sideEffects", obj: variant(vwc, func(v *admissionregistrationv1.ValidatingWebhookConfiguration) { hook0(v).SideEffects = nil }),
			want: []wantErr{required("webhooks[0].sideEffects")}},
		{name: "unknown admissionReviewVersions", obj: variant(vwc, func(v *admissionregistrationv1.ValidatingWebhookConfiguration) {
			hook0(v).AdmissionReviewVersions = []string{"v2"}
		}), want: []wantErr{invalid("webhooks[0].admissionReviewVersions")}},
		{name: "the same name twice", obj: variant(vwc, func(v *admissionregistrationv1.ValidatingWebhookConfiguration) {
			v.Webhooks = append(v.Webhooks, v.Webhooks[0])
		}),
			want: []wantErr{duplicate("webhooks[1].name")}},
		{name: "timeout over 30s", obj: variant(vwc, func(v *admissionregistrationv1.ValidatingWebhookConfiguration) {
			hook0(v).TimeoutSeconds = ptr.To(int32(31))
		}),
			want: []wantErr{invalid("webhooks[0].timeoutSeconds")}},
		{name: "unknown operation", obj: variant(vwc, func(v *admissionregistrationv1.ValidatingWebhookConfiguration) {
			hook0(v).Rules[0].Operations = []admissionregistrationv1.OperationType{"PATCH"}
		}), want: []wantErr{notSupported("webhooks[0].rules[0].operations[0]")}},
	})
	runUpdates(t, []updateCase{
		{name: "rules may change", old: vwc, edit: hook(func(v *admissionregistrationv1.ValidatingWebhookConfiguration) {
			hook0(v).Rules[0].Resources = []string{"pods", "services"}
		})},
		{name: "sideEffects stays required", old: vwc, edit: hook(func(v *admissionregistrationv1.ValidatingWebhookConfiguration) { hook0(v).SideEffects = nil }),
			want: []wantErr{required("webhooks[0].sideEffects")}},
	})
}

func TestKindValidatingAdmissionPolicy(t *testing.T) {
	vap := &admissionregistrationv1.ValidatingAdmissionPolicy{ObjectMeta: clusterMeta("replica-limit"), Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
		MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
			RuleWithOperations: admissionregistrationv1.RuleWithOperations{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
			},
		}}},
		Validations: []admissionregistrationv1.Validation{{Expression: "object.spec.replicas <= 5"}},
	}}
	runCreates(t, []createCase{
		{name: "defaults", obj: vap, check: checked(func(t *testing.T, v *admissionregistrationv1.ValidatingAdmissionPolicy) {
			m := v.Spec.MatchConstraints
			if ptr.Deref(v.Spec.FailurePolicy, "") != admissionregistrationv1.Fail || ptr.Deref(m.MatchPolicy, "") != admissionregistrationv1.Equivalent {
				t.Errorf("got failurePolicy %v matchPolicy %v, want Fail and Equivalent", v.Spec.FailurePolicy, m.MatchPolicy)
			}
			if m.NamespaceSelector == nil || m.ObjectSelector == nil {
				t.Errorf("got namespaceSelector %v objectSelector %v, want both {}", m.NamespaceSelector, m.ObjectSelector)
			}
		})},
		{name: "expression does not compile", obj: variant(vap, func(v *admissionregistrationv1.ValidatingAdmissionPolicy) {
			v.Spec.Validations[0].Expression = "object.spec.replicas <="
		}),
			want: []wantErr{invalid("spec.validations[0].expression")}},
		{name: "no validations or audit annotations", obj: variant(vap, func(v *admissionregistrationv1.ValidatingAdmissionPolicy) { v.Spec.Validations = nil }),
			want: []wantErr{required("spec.validations"), required("spec.auditAnnotations")}},
		{name: "no match constraints", obj: variant(vap, func(v *admissionregistrationv1.ValidatingAdmissionPolicy) { v.Spec.MatchConstraints = nil }),
			want: []wantErr{required("spec.matchConstraints")}},
		{name: "unknown failurePolicy", obj: variant(vap, func(v *admissionregistrationv1.ValidatingAdmissionPolicy) {
			v.Spec.FailurePolicy = ptr.To(admissionregistrationv1.FailurePolicyType("Maybe"))
		}), want: []wantErr{notSupported("spec.failurePolicy")}},
	})
	runUpdates(t, []updateCase{
		{name: "a validation may be added", old: vap, edit: hook(func(v *admissionregistrationv1.ValidatingAdmissionPolicy) {
			v.Spec.Validations = append(v.Spec.Validations, admissionregistrationv1.Validation{Expression: "object.metadata.name != 'forbidden'"})
		})},
		{name: "status write keeps spec", old: vap, status: true, edit: hook(func(v *admissionregistrationv1.ValidatingAdmissionPolicy) {
			v.Spec.Validations = nil
			v.Status.ObservedGeneration = 1
		}), check: checkedUpdate(func(t *testing.T, v, old *admissionregistrationv1.ValidatingAdmissionPolicy) {
			if len(v.Spec.Validations) != 1 || v.Status.ObservedGeneration != 1 {
				t.Errorf("got %d validations observedGeneration %d, want the stored 1 and 1", len(v.Spec.Validations), v.Status.ObservedGeneration)
			}
		})},
	})
}

func TestKindValidatingAdmissionPolicyBinding(t *testing.T) {
	b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{ObjectMeta: clusterMeta("replica-limit"), Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
		PolicyName:        "replica-limit",
		ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
	}}
	runCreates(t, []createCase{
		{name: "valid", obj: b},
		{name: "Warn and Audit", obj: variant(b, func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Warn, admissionregistrationv1.Audit}
		})},
		{name: "no policy name", obj: variant(b, func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.PolicyName = "" }),
			want: []wantErr{required("spec.policyName")}},
		{name: "no validation actions", obj: variant(b, func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.ValidationActions = nil }),
			want: []wantErr{required("spec.validationActions")}},
		{name: "unknown validation action", obj: variant(b, func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{"Ignore"}
		}), want: []wantErr{notSupported("spec.validationActions[0]")}},
		{name: "Deny and Warn together", obj: variant(b, func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny, admissionregistrationv1.Warn}
		}), want: []wantErr{invalid("spec.validationActions")}},
	})
	runUpdates(t, []updateCase{
		{name: "actions may change", old: b, edit: hook(func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) {
			b.Spec.ValidationActions = []admissionregistrationv1.ValidationAction{admissionregistrationv1.Audit}
		})},
		{name: "policy name stays required", old: b, edit: hook(func(b *admissionregistrationv1.ValidatingAdmissionPolicyBinding) { b.Spec.PolicyName = "" }),
			want: []wantErr{required("spec.policyName")}},
	})
}

func TestKindDeviceClass(t *testing.T) {
	dc := &resourcev1.DeviceClass{ObjectMeta: clusterMeta("gpu.example.com"), Spec: resourcev1.DeviceClassSpec{
		Selectors: []resourcev1.DeviceSelector{{CEL: &resourcev1.CELDeviceSelector{Expression: `device.driver == "gpu.example.com"`}}},
	}}
	runCreates(t, []createCase{
		{name: "valid", obj: dc},
		{name: "expression does not compile", obj: variant(dc, func(d *resourcev1.DeviceClass) { d.Spec.Selectors[0].CEL.Expression = "device.driver ==" }),
			want: []wantErr{invalid("spec.selectors[0].cel.expression")}},
		{name: "expression not a bool", obj: variant(dc, func(d *resourcev1.DeviceClass) { d.Spec.Selectors[0].CEL.Expression = "device.driver" }),
			want: []wantErr{invalid("spec.selectors[0].cel.expression")}},
		{name: "selector without CEL", obj: variant(dc, func(d *resourcev1.DeviceClass) { d.Spec.Selectors[0].CEL = nil }), want: []wantErr{required("spec.selectors[0].cel")}},
	})
	runUpdates(t, []updateCase{
		{name: "selectors may change", old: dc, edit: hook(func(d *resourcev1.DeviceClass) { d.Spec.Selectors = nil })},
	})
}

func deviceRequests() resourcev1.DeviceClaim {
	return resourcev1.DeviceClaim{Requests: []resourcev1.DeviceRequest{{
		Name: "gpu", Exactly: &resourcev1.ExactDeviceRequest{DeviceClassName: "gpu.example.com"},
	}}}
}

func TestKindResourceClaim(t *testing.T) {
	rc := &resourcev1.ResourceClaim{ObjectMeta: nsMeta("gpu"), Spec: resourcev1.ResourceClaimSpec{Devices: deviceRequests()}}
	req0 := func(c *resourcev1.ResourceClaim) *resourcev1.DeviceRequest { return &c.Spec.Devices.Requests[0] }
	runCreates(t, []createCase{
		{name: "allocationMode ExactCount and count 1", obj: rc, check: checked(func(t *testing.T, c *resourcev1.ResourceClaim) {
			e := c.Spec.Devices.Requests[0].Exactly
			if e.AllocationMode != resourcev1.DeviceAllocationModeExactCount || e.Count != 1 {
				t.Errorf("got allocationMode %q count %d, want ExactCount and 1", e.AllocationMode, e.Count)
			}
		})},
		{name: "request name not a DNS label", obj: variant(rc, func(c *resourcev1.ResourceClaim) { req0(c).Name = "GPU_0" }), want: []wantErr{invalid("spec.devices.requests[0].name")}},
		{name: "no device class", obj: variant(rc, func(c *resourcev1.ResourceClaim) { req0(c).Exactly.DeviceClassName = "" }),
			want: []wantErr{required("spec.devices.requests[0].exactly.deviceClassName")}},
		{name: "neither exactly nor firstAvailable", obj: variant(rc, func(c *resourcev1.ResourceClaim) { req0(c).Exactly = nil }),
			want: []wantErr{required("spec.devices.requests[0]")}},
		{name: "the same request name twice", obj: variant(rc, func(c *resourcev1.ResourceClaim) {
			c.Spec.Devices.Requests = append(c.Spec.Devices.Requests, c.Spec.Devices.Requests[0])
		}), want: []wantErr{duplicate("spec.devices.requests[1]")}},
	})
	runUpdates(t, []updateCase{
		{name: "spec is immutable", old: rc, edit: hook(func(c *resourcev1.ResourceClaim) { req0(c).Name = "gpu2" }), want: []wantErr{invalid("spec")}},
		{name: "labels may change", old: rc, edit: hook(func(c *resourcev1.ResourceClaim) { c.Labels = map[string]string{"team": "ml"} })},
	})
}

func TestKindResourceClaimTemplate(t *testing.T) {
	rct := &resourcev1.ResourceClaimTemplate{ObjectMeta: nsMeta("gpu"), Spec: resourcev1.ResourceClaimTemplateSpec{Spec: resourcev1.ResourceClaimSpec{Devices: deviceRequests()}}}
	runCreates(t, []createCase{
		{name: "defaults in the claim spec", obj: rct, check: checked(func(t *testing.T, c *resourcev1.ResourceClaimTemplate) {
			if e := c.Spec.Spec.Devices.Requests[0].Exactly; e.AllocationMode != resourcev1.DeviceAllocationModeExactCount || e.Count != 1 {
				t.Errorf("got allocationMode %q count %d, want ExactCount and 1", e.AllocationMode, e.Count)
			}
		})},
		{name: "no device class", obj: variant(rct, func(c *resourcev1.ResourceClaimTemplate) {
			c.Spec.Spec.Devices.Requests[0].Exactly.DeviceClassName = ""
		}),
			want: []wantErr{required("spec.spec.devices.requests[0].exactly.deviceClassName")}},
	})
	runUpdates(t, []updateCase{
		{name: "spec is immutable", old: rct, edit: hook(func(c *resourcev1.ResourceClaimTemplate) { c.Spec.Spec.Devices.Requests[0].Name = "gpu2" }),
			want: []wantErr{invalid("spec")}},
	})
}

func newResourceSlice() *resourcev1.ResourceSlice {
	return &resourcev1.ResourceSlice{ObjectMeta: clusterMeta("node1-gpu.example.com"), Spec: resourcev1.ResourceSliceSpec{
		Driver:   "gpu.example.com",
		Pool:     resourcev1.ResourcePool{Name: "node1", ResourceSliceCount: 1},
		NodeName: ptr.To("node1"),
		Devices:  []resourcev1.Device{{Name: "gpu-0"}},
	}}
}

func TestKindResourceSlice(t *testing.T) {
	rs := newResourceSlice()
	runCreates(t, []createCase{
		{name: "valid", obj: rs},
		{name: "no driver", obj: variant(rs, func(s *resourcev1.ResourceSlice) { s.Spec.Driver = "" }), want: []wantErr{required("spec.driver")}},
		{name: "no pool name", obj: variant(rs, func(s *resourcev1.ResourceSlice) { s.Spec.Pool.Name = "" }), want: []wantErr{required("spec.pool.name")}},
		{name: "no node selection", obj: variant(rs, func(s *resourcev1.ResourceSlice) { s.Spec.NodeName = nil }), want: []wantErr{required("spec")}},
		{name: "the same device twice", obj: variant(rs, func(s *resourcev1.ResourceSlice) { s.Spec.Devices = append(s.Spec.Devices, s.Spec.Devices[0]) }),
			want: []wantErr{duplicate("spec.devices[1]")}},
	})
	runUpdates(t, []updateCase{
		{name: "devices may change", old: rs, edit: hook(func(s *resourcev1.ResourceSlice) {
			s.Spec.Devices = append(s.Spec.Devices, resourcev1.Device{Name: "gpu-1"})
			s.Spec.Pool.Generation = 1
		})},
		{name: "driver is immutable", old: rs, edit: hook(func(s *resourcev1.ResourceSlice) { s.Spec.Driver = "other.example.com" }), want: []wantErr{invalid("spec.driver")}},
	})
}

// TestKindDiscovery: the names, scope and subresources each kind is
// served under, as a kube-apiserver v1.37 lists them.
func TestKindDiscovery(t *testing.T) {
	tests := []struct {
		kind, group, plural string
		short               []string
		namespaced          bool
		subresources        []string
	}{
		{"ConfigMap", "", "configmaps", []string{"cm"}, true, nil},
		{"Secret", "", "secrets", nil, true, nil},
		{"ServiceAccount", "", "serviceaccounts", []string{"sa"}, true, []string{"token"}},
		{"PersistentVolume", "", "persistentvolumes", []string{"pv"}, false, []string{"status"}},
		{"PersistentVolumeClaim", "", "persistentvolumeclaims", []string{"pvc"}, true, []string{"status"}},
		{"ReplicationController", "", "replicationcontrollers", []string{"rc"}, true, []string{"scale", "status"}},
		{"ResourceQuota", "", "resourcequotas", []string{"quota"}, true, []string{"status"}},
		{"LimitRange", "", "limitranges", []string{"limits"}, true, nil},
		{"PodTemplate", "", "podtemplates", nil, true, nil},
		{"StatefulSet", "apps", "statefulsets", []string{"sts"}, true, []string{"scale", "status"}},
		{"DaemonSet", "apps", "daemonsets", []string{"ds"}, true, []string{"status"}},
		{"ControllerRevision", "apps", "controllerrevisions", nil, true, nil},
		{"Job", "batch", "jobs", nil, true, []string{"status"}},
		{"CronJob", "batch", "cronjobs", []string{"cj"}, true, []string{"status"}},
		{"HorizontalPodAutoscaler", "autoscaling", "horizontalpodautoscalers", []string{"hpa"}, true, []string{"status"}},
		{"PodDisruptionBudget", "policy", "poddisruptionbudgets", []string{"pdb"}, true, []string{"status"}},
		{"NetworkPolicy", "networking.k8s.io", "networkpolicies", []string{"netpol"}, true, nil},
		{"Ingress", "networking.k8s.io", "ingresses", []string{"ing"}, true, []string{"status"}},
		{"IngressClass", "networking.k8s.io", "ingressclasses", nil, false, nil},
		{"ClusterRole", "rbac.authorization.k8s.io", "clusterroles", nil, false, nil},
		{"ClusterRoleBinding", "rbac.authorization.k8s.io", "clusterrolebindings", nil, false, nil},
		{"Role", "rbac.authorization.k8s.io", "roles", nil, true, nil},
		{"RoleBinding", "rbac.authorization.k8s.io", "rolebindings", nil, true, nil},
		{"StorageClass", "storage.k8s.io", "storageclasses", []string{"sc"}, false, nil},
		{"CSIDriver", "storage.k8s.io", "csidrivers", nil, false, nil},
		{"CSINode", "storage.k8s.io", "csinodes", nil, false, []string{"status"}},
		{"CSIStorageCapacity", "storage.k8s.io", "csistoragecapacities", nil, true, nil},
		{"VolumeAttachment", "storage.k8s.io", "volumeattachments", nil, false, []string{"status"}},
		{"PriorityClass", "scheduling.k8s.io", "priorityclasses", []string{"pc"}, false, nil},
		{"RuntimeClass", "node.k8s.io", "runtimeclasses", nil, false, nil},
		{"CertificateSigningRequest", "certificates.k8s.io", "certificatesigningrequests", []string{"csr"}, false, []string{"approval", "status"}},
		{"MutatingWebhookConfiguration", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", nil, false, nil},
		{"ValidatingWebhookConfiguration", "admissionregistration.k8s.io", "validatingwebhookconfigurations", nil, false, nil},
		{"ValidatingAdmissionPolicy", "admissionregistration.k8s.io", "validatingadmissionpolicies", nil, false, []string{"status"}},
		{"ValidatingAdmissionPolicyBinding", "admissionregistration.k8s.io", "validatingadmissionpolicybindings", nil, false, nil},
		{"DeviceClass", "resource.k8s.io", "deviceclasses", nil, false, nil},
		{"ResourceClaim", "resource.k8s.io", "resourceclaims", nil, true, []string{"status"}},
		{"ResourceClaimTemplate", "resource.k8s.io", "resourceclaimtemplates", nil, true, nil},
		{"ResourceSlice", "resource.k8s.io", "resourceslices", nil, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			version := "v1"
			if tt.group == "autoscaling" {
				version = "v2"
			}
			r, ok := Lookup(tt.group, version, tt.plural)
			if !ok {
				t.Fatalf("%s/%s %s is not served", tt.group, version, tt.plural)
			}
			if r.Kind != tt.kind || r.Namespaced != tt.namespaced {
				t.Errorf("got kind %s namespaced %v, want %s %v", r.Kind, r.Namespaced, tt.kind, tt.namespaced)
			}
			if !cmp.Equal(r.ShortNames, tt.short) {
				t.Errorf("got short names %v, want %v", r.ShortNames, tt.short)
			}
			subs := append([]string(nil), r.Subresources...)
			sort.Strings(subs)
			if !cmp.Equal(subs, tt.subresources) {
				t.Errorf("got subresources %v, want %v", subs, tt.subresources)
			}
		})
	}
}

// TestKindColumns: kubectl's columns for these kinds come from the
// server's tables; a * marks a column kubectl shows with -o wide only.
func TestKindColumns(t *testing.T) {
	want := map[string][]string{
		"jobs":                     {"Name", "Status", "Completions", "Duration", "Age", "Containers*", "Images*", "Selector*"},
		"cronjobs":                 {"Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age", "Containers*", "Images*", "Selector*"},
		"statefulsets":             {"Name", "Ready", "Age", "Containers*", "Images*"},
		"daemonsets":               {"Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age", "Containers*", "Images*", "Selector*"},
		"persistentvolumeclaims":   {"Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age", "VolumeMode*"},
		"persistentvolumes":        {"Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "VolumeAttributesClass", "Reason", "Age", "VolumeMode*"},
		"secrets":                  {"Name", "Type", "Data", "Age"},
		"configmaps":               {"Name", "Data", "Age"},
		"horizontalpodautoscalers": {"Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"},
		"priorityclasses":          {"Name", "Value", "Global-Default", "Age", "PreemptionPolicy"},
		"storageclasses":           {"Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"},
		// Kinds without a printer get the server's default columns.
		"roles":        {"Name", "Created At"},
		"clusterroles": {"Name", "Created At"},
	}
	for plural, cols := range want {
		t.Run(plural, func(t *testing.T) {
			tbl, err := lookupPlural(t, plural).Strategy.Table(nil, TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range tbl.ColumnDefinitions {
				name := c.Name
				if c.Priority == 1 {
					name += "*"
				}
				got = append(got, name)
			}
			if diff := cmp.Diff(cols, got); diff != "" {
				t.Errorf("columns (-want +got, * = wide only):\n%s", diff)
			}
		})
	}
}

// TestKindRows checks the cells kubectl shows that do not depend on the
// clock.
func TestKindRows(t *testing.T) {
	done := newJob()
	if errs := serverCreate(t, done); len(errs) > 0 {
		t.Fatal(errs)
	}
	start, end := metav1.Unix(1000, 0), metav1.Unix(1065, 0)
	done.Status = batchv1.JobStatus{Succeeded: 1, StartTime: &start, CompletionTime: &end, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue},
	}}
	role := &rbacv1.Role{ObjectMeta: nsMeta("pod-reader"), Rules: []rbacv1.PolicyRule{readPods}}
	role.CreationTimestamp = metav1.Unix(1000, 0)
	tests := []struct {
		name string
		obj  runtime.Object
		// cells by column index
		want map[int]interface{}
	}{
		{"job complete", done, map[int]interface{}{0: "pi", 1: "Complete", 2: "1/1", 3: "65s", 5: "app", 6: "minik8s/echo:1.0"}},
		{"secret", &corev1.Secret{ObjectMeta: nsMeta("tls"), Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
			map[int]interface{}{0: "tls", 1: "kubernetes.io/tls", 2: int64(2)}},
		{"configmap", &corev1.ConfigMap{ObjectMeta: nsMeta("settings"), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": nil}},
			map[int]interface{}{0: "settings", 1: int64(2)}},
		{"role", role, map[int]interface{}{0: "pod-reader", 1: "1970-01-01T00:16:40Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := resourceFor(t, tt.obj).Strategy.Table([]runtime.Object{tt.obj}, TableOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tbl.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(tbl.Rows))
			}
			cells := tbl.Rows[0].Cells
			for i, w := range tt.want {
				if i >= len(cells) || cells[i] != w {
					t.Errorf("got cells %v, want %v (%T) in column %d", cells, w, w, i)
				}
			}
		})
	}
}

// TestKindFieldSelectors: the field selectors a kube-apiserver accepts
// for these kinds, and what they match.
func TestKindFieldSelectors(t *testing.T) {
	tlsSecret := &corev1.Secret{ObjectMeta: nsMeta("tls"), Type: corev1.SecretTypeTLS}
	job := newJob()
	job.Status.Succeeded = 1
	pvc := newPVC()
	rc := newRC()
	rc.Status.Replicas = 2
	csr := newCSR(t)
	pcr := &certificatesv1.PodCertificateRequest{ObjectMeta: nsMeta("req-1"), Spec: certificatesv1.PodCertificateRequestSpec{
		SignerName: "example.com/signer", PodName: "p", NodeName: "node1"}}
	tests := []struct {
		obj      runtime.Object
		selector string
		match    bool
	}{
		{tlsSecret, "type=kubernetes.io/tls", true},
		{tlsSecret, "type=Opaque", false},
		{tlsSecret, "metadata.namespace=default,metadata.name=tls", true},
		{job, "status.successful=1", true},
		{job, "status.successful=0", false},
		{newPV(), "metadata.name=pv1", true},
		{pvc, "metadata.name=data,metadata.namespace=default", true},
		{pvc, "metadata.namespace=kube-system", false},
		{rc, "status.replicas=2", true},
		{rc, "status.replicas!=2", false},
		{csr, "spec.signerName=example.com/signer", true},
		{csr, "spec.signerName=kubernetes.io/kube-apiserver-client", false},
		{newResourceSlice(), "spec.nodeName=node1,spec.driver=gpu.example.com", true},
		{newResourceSlice(), "spec.nodeName=node2", false},
		{&corev1.ConfigMap{ObjectMeta: nsMeta("settings")}, "metadata.name=settings", true},
		// As upstream's storage: a kubelet lists its node's requests, a
		// signer its own.
		{pcr, "spec.nodeName=node1", true},
		{pcr, "spec.nodeName=node2", false},
		{pcr, "spec.signerName=example.com/signer,spec.podName=p", true},
	}
	for _, tt := range tests {
		r := resourceFor(t, tt.obj)
		t.Run(r.Plural+" "+tt.selector, func(t *testing.T) {
			sel, err := fields.ParseSelector(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			for _, req := range sel.Requirements() {
				if !r.Strategy.FieldLabelSupported(req.Field) {
					t.Errorf("got %s unsupported, want supported", req.Field)
				}
			}
			_, fs, err := r.Strategy.Attrs(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(fs); got != tt.match {
				t.Errorf("got match %v, want %v (fields %v)", got, tt.match, fs)
			}
		})
	}

	unsupported := []struct{ plural, label string }{
		{"secrets", "spec.foo"},
		{"secrets", "data"},
		{"jobs", "spec.foo"},
		{"jobs", "status.active"},
		{"persistentvolumes", "spec.foo"},
		// PVs and PVCs carry a legacy "name" field, but no field label
		// conversion admits it.
		{"persistentvolumes", "name"},
		{"persistentvolumeclaims", "status.phase"},
		{"replicationcontrollers", "spec.replicas"},
		{"certificatesigningrequests", "spec.username"},
		{"configmaps", "data"},
		{"statefulsets", "status.replicas"},
	}
	for _, c := range unsupported {
		t.Run(c.plural+" "+c.label, func(t *testing.T) {
			if lookupPlural(t, c.plural).Strategy.FieldLabelSupported(c.label) {
				t.Errorf("got %s supported, want unsupported", c.label)
			}
		})
	}
}
