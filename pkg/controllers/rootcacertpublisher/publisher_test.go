package rootcacertpublisher

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	certutil "k8s.io/client-go/util/cert"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
	if phase == corev1.NamespaceTerminating {
		now := metav1.NewTime(time.Now())
		ns.DeletionTimestamp = &now
	}
	return ns
}

func configMap(ns, name string, data map[string]string, annotations map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations, ResourceVersion: "7"},
		Data:       data,
	}
}

var described = map[string]string{DescriptionAnnotation: Description}

// testCA returns a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := certutil.NewSelfSignedCACert(certutil.Config{CommonName: "minik8s-ca"}, key)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := certutil.EncodeCertificates(cert)
	if err != nil {
		t.Fatal(err)
	}
	return pem
}

func TestSync(t *testing.T) {
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	tests := []struct {
		name   string
		rootCA string
		cached []runtime.Object
		// apiOnly is in the fake API but not yet in the cache.
		apiOnly   []runtime.Object
		createErr error
		wantErr   bool
		// wantVerb is "create", "update" or "" (no write); a write must
		// leave team/kube-root-ca.crt with wantData and the description.
		wantVerb string
		wantData map[string]string
		// wantAnnotations are other annotations a write must keep.
		wantAnnotations map[string]string
	}{
		{
			name:     "missing: created with the CA",
			rootCA:   ca,
			cached:   []runtime.Object{namespace("team", corev1.NamespaceActive)},
			wantVerb: "create",
			wantData: map[string]string{Key: ca},
		},
		{
			name:     "missing, no CA: created with the empty placeholder",
			cached:   []runtime.Object{namespace("team", corev1.NamespaceActive)},
			wantVerb: "create",
			wantData: map[string]string{Key: ""},
		},
		{
			name:     "another namespace's ConfigMap does not count",
			rootCA:   ca,
			cached:   []runtime.Object{namespace("team", corev1.NamespaceActive), configMap("other", ConfigMapName, map[string]string{Key: ca}, described)},
			wantVerb: "create",
			wantData: map[string]string{Key: ca},
		},
		{
			name:   "up to date: no write",
			rootCA: ca,
			cached: []runtime.Object{namespace("team", corev1.NamespaceActive), configMap("team", ConfigMapName, map[string]string{Key: ca}, described)},
		},
		{
			name:   "placeholder up to date: no write",
			cached: []runtime.Object{namespace("team", corev1.NamespaceActive), configMap("team", ConfigMapName, map[string]string{Key: ""}, described)},
		},
		{
			name:     "wrong data: updated",
			rootCA:   ca,
			cached:   []runtime.Object{namespace("team", corev1.NamespaceActive), configMap("team", ConfigMapName, map[string]string{Key: "forged"}, described)},
			wantVerb: "update",
			wantData: map[string]string{Key: ca},
		},
		{
			name:     "extra key: updated to ca.crt alone",
			rootCA:   ca,
			cached:   []runtime.Object{namespace("team", corev1.NamespaceActive), configMap("team", ConfigMapName, map[string]string{Key: ca, "extra": "x"}, described)},
			wantVerb: "update",
			wantData: map[string]string{Key: ca},
		},
		{
			name:     "key removed: updated",
			rootCA:   ca,
			cached:   []runtime.Object{namespace("team", corev1.NamespaceActive), configMap("team", ConfigMapName, nil, described)},
			wantVerb: "update",
			wantData: map[string]string{Key: ca},
		},
		{
			name:   "description removed: put back, other annotations kept",
			rootCA: ca,
			cached: []runtime.Object{namespace("team", corev1.NamespaceActive),
				configMap("team", ConfigMapName, map[string]string{Key: ca}, map[string]string{"team.example/owner": "ops"})},
			wantVerb:        "update",
			wantData:        map[string]string{Key: ca},
			wantAnnotations: map[string]string{"team.example/owner": "ops"},
		},
		{
			name:   "terminating namespace: nothing",
			rootCA: ca,
			cached: []runtime.Object{namespace("team", corev1.NamespaceTerminating)},
		},
		{
			name:   "terminating namespace with wrong data: nothing",
			rootCA: ca,
			cached: []runtime.Object{namespace("team", corev1.NamespaceTerminating), configMap("team", ConfigMapName, map[string]string{Key: "forged"}, nil)},
		},
		{
			name:   "namespace gone: nothing",
			rootCA: ca,
		},
		{
			name:      "namespace began terminating since the cache saw it",
			rootCA:    ca,
			cached:    []runtime.Object{namespace("team", corev1.NamespaceActive)},
			createErr: terminatingError(),
			wantVerb:  "create",
			wantData:  map[string]string{Key: ca},
		},
		{
			name:     "cache behind: AlreadyExists is retried to check the data",
			rootCA:   ca,
			cached:   []runtime.Object{namespace("team", corev1.NamespaceActive)},
			apiOnly:  []runtime.Object{configMap("team", ConfigMapName, map[string]string{Key: "forged"}, nil)},
			wantErr:  true,
			wantVerb: "create",
			wantData: map[string]string{Key: ca},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(append(append([]runtime.Object{}, tt.cached...), tt.apiOnly...)...)
			if tt.createErr != nil {
				client.PrependReactor("create", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, tt.createErr
				})
			}
			f := informers.NewSharedInformerFactory(client, 0)
			c := New(client, f, []byte(tt.rootCA))
			for _, o := range tt.cached {
				var err error
				switch o := o.(type) {
				case *corev1.Namespace:
					err = f.Core().V1().Namespaces().Informer().GetIndexer().Add(o)
				case *corev1.ConfigMap:
					err = f.Core().V1().ConfigMaps().Informer().GetIndexer().Add(o)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			client.ClearActions()

			err := c.sync(context.Background(), "team")
			if (err != nil) != tt.wantErr {
				t.Fatalf("sync: got error %v, want error %v", err, tt.wantErr)
			}
			var writes []k8stesting.Action
			for _, a := range client.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" {
					writes = append(writes, a)
				}
			}
			if tt.wantVerb == "" {
				if len(writes) != 0 {
					t.Errorf("got %d writes (first: %s), want none", len(writes), writes[0].GetVerb())
				}
				return
			}
			if len(writes) != 1 || writes[0].GetVerb() != tt.wantVerb {
				t.Fatalf("got writes %v, want one %s", writes, tt.wantVerb)
			}
			got := writes[0].(interface{ GetObject() runtime.Object }).GetObject().(*corev1.ConfigMap)
			if got.Namespace != "team" || got.Name != ConfigMapName {
				t.Errorf("wrote %s/%s, want team/%s", got.Namespace, got.Name, ConfigMapName)
			}
			if !maps.Equal(got.Data, tt.wantData) {
				t.Errorf("got data %q, want %q", got.Data, tt.wantData)
			}
			if _, ok := got.Data[Key]; !ok {
				t.Errorf("data has no %q key", Key)
			}
			if got.Annotations[DescriptionAnnotation] != Description {
				t.Errorf("got description %q, want upstream's", got.Annotations[DescriptionAnnotation])
			}
			for k, v := range tt.wantAnnotations {
				if got.Annotations[k] != v {
					t.Errorf("annotation %s: got %q, want %q kept", k, got.Annotations[k], v)
				}
			}
			if tt.wantVerb == "update" && got.ResourceVersion != "7" {
				t.Errorf("update sent resourceVersion %q, want the cached 7 (optimistic concurrency)", got.ResourceVersion)
			}
		})
	}
}

func terminatingError() error {
	err := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, ConfigMapName,
		errors.New("unable to create new content in namespace team because it is being terminated"))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: corev1.NamespaceTerminatingCause})
	return err
}

// TestSyncDoesNotMutateCache: the update is made on a copy.
func TestSyncDoesNotMutateCache(t *testing.T) {
	cached := configMap("team", ConfigMapName, map[string]string{Key: "forged"}, nil)
	client := fake.NewClientset(namespace("team", corev1.NamespaceActive), cached)
	f := informers.NewSharedInformerFactory(client, 0)
	c := New(client, f, []byte("ca"))
	f.Core().V1().Namespaces().Informer().GetIndexer().Add(namespace("team", corev1.NamespaceActive))
	f.Core().V1().ConfigMaps().Informer().GetIndexer().Add(cached)
	if err := c.sync(context.Background(), "team"); err != nil {
		t.Fatal(err)
	}
	if cached.Data[Key] != "forged" || cached.Annotations != nil {
		t.Errorf("cached object changed: data %q, annotations %q", cached.Data, cached.Annotations)
	}
}

func TestEventsEnqueue(t *testing.T) {
	tests := []struct {
		name  string
		event func(c *Controller)
		want  string // "" for nothing queued
	}{
		{"active namespace", func(c *Controller) {
			c.namespaceChanged(namespace("team", corev1.NamespaceActive))
		}, "team"},
		{"terminating namespace", func(c *Controller) {
			c.namespaceChanged(namespace("team", corev1.NamespaceTerminating))
		}, ""},
		{"kube-root-ca.crt changed or deleted", func(c *Controller) {
			c.configMapChanged(configMap("team", ConfigMapName, nil, nil))
		}, "team"},
		{"kube-root-ca.crt deleted, seen as a tombstone", func(c *Controller) {
			c.configMapChanged(cache.DeletedFinalStateUnknown{Key: "team/" + ConfigMapName, Obj: configMap("team", ConfigMapName, nil, nil)})
		}, "team"},
		{"another ConfigMap", func(c *Controller) {
			c.configMapChanged(configMap("team", "settings", nil, nil))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(fake.NewClientset(), informers.NewSharedInformerFactory(fake.NewClientset(), 0), nil)
			defer c.queue.ShutDown()
			tt.event(c)
			if tt.want == "" {
				if n := c.queue.Len(); n != 0 {
					t.Errorf("got %d keys queued, want none", n)
				}
				return
			}
			if n := c.queue.Len(); n != 1 {
				t.Fatalf("got %d keys queued, want 1", n)
			}
			if got, _ := c.queue.Get(); got != tt.want {
				t.Errorf("got key %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRootCA(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.crt", ca)
	notPEM := write("junk", []byte("not a certificate"))
	kubeconfigCA := write("kubeconfig-ca.crt", []byte("kubeconfig's CA"))
	tests := []struct {
		name    string
		file    string
		server  *rest.Config
		want    string
		wantErr bool
	}{
		{"--root-ca-file", caFile, &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: []byte("other")}}, string(ca), false},
		{"--root-ca-file missing", filepath.Join(dir, "nope"), nil, "", true},
		{"--root-ca-file not PEM", notPEM, nil, "", true},
		{"kubeconfig's CA data", "", &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: []byte("data"), CAFile: kubeconfigCA}}, "data", false},
		{"kubeconfig's CA file", "", &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: kubeconfigCA}}, "kubeconfig's CA", false},
		{"kubeconfig's CA file missing", "", &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: filepath.Join(dir, "nope")}}, "", true},
		{"plain HTTP: the empty placeholder", "", &rest.Config{Host: "http://127.0.0.1:6443"}, "", false},
		{"no config", "", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RootCA(tt.file, tt.server)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
