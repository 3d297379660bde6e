package apiserver_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// A 32-byte key, base64, per name: aescbc/aesgcm/secretbox all take it.
func testKey(name string) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte(name[:1]), 32))
}

// writeEncryptionConfig writes an EncryptionConfiguration for resources
// whose providers are given as "aescbc:key1", "identity", … in order.
func writeEncryptionConfig(t testing.TB, resources []string, providers ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources:\n")
	for _, r := range resources {
		fmt.Fprintf(&b, "  - %q\n", r)
	}
	b.WriteString("  providers:\n")
	for _, p := range providers {
		kind, key, _ := strings.Cut(p, ":")
		if kind == "identity" {
			b.WriteString("  - identity: {}\n")
			continue
		}
		fmt.Fprintf(&b, "  - %s:\n      keys:\n      - name: %s\n        secret: %s\n", kind, key, testKey(key))
	}
	path := filepath.Join(t.TempDir(), "encryption.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func withEncryption(path string) func(*apiserver.Config) {
	return func(c *apiserver.Config) { c.EncryptionProviderConfig = path }
}

// stored is what etcd holds at key, read with clientv3, not the store.
func stored(t *testing.T, s *apiservertest.Server, key string) []byte {
	t.Helper()
	resp, err := s.Server.Store().Client().Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatalf("etcd has %d values at %s, want 1", len(resp.Kvs), key)
	}
	return resp.Kvs[0].Value
}

const plaintext = "s3cr3t-p4ssw0rd-in-plain-sight"

func secret(name string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Data:       map[string][]byte{"password": []byte(plaintext)},
	}
}

// hasPlaintext: the value shows the secret as JSON holds it (base64) or
// raw.
func hasPlaintext(v []byte) bool {
	return bytes.Contains(v, []byte(plaintext)) || bytes.Contains(v, []byte(base64.StdEncoding.EncodeToString([]byte(plaintext))))
}

// TestEncryptionAtRest: a Secret written through the API is in etcd
// under upstream's prefix with no trace of its data, and reads back
// (get, list, watch) as written; a resource the configuration does not
// name stays plain JSON.
func TestEncryptionAtRest(t *testing.T) {
	for _, provider := range []string{"aescbc", "aesgcm", "secretbox"} {
		t.Run(provider, func(t *testing.T) {
			cfg := writeEncryptionConfig(t, []string{"secrets"}, provider+":key1", "identity")
			s := apiservertest.StartWith(t, t.TempDir(), withEncryption(cfg))
			cs := kubernetes.NewForConfigOrDie(s.Config)
			ctx := context.Background()
			w, err := cs.CoreV1().Secrets("default").Watch(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			if _, err := cs.CoreV1().Secrets("default").Create(ctx, secret("db"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			v := stored(t, s, storage.Key("secrets", "default", "db"))
			if want := "k8s:enc:" + provider + ":v1:key1:"; !bytes.HasPrefix(v, []byte(want)) {
				t.Errorf("stored value starts %q, want prefix %q", v[:min(len(v), 30)], want)
			}
			if hasPlaintext(v) || bytes.Contains(v, []byte(`"kind"`)) {
				t.Errorf("stored value holds plaintext: %q", v)
			}
			got, err := cs.CoreV1().Secrets("default").Get(ctx, "db", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(got.Data["password"]) != plaintext {
				t.Errorf("get: got %q, want %q", got.Data["password"], plaintext)
			}
			list, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != 1 || string(list.Items[0].Data["password"]) != plaintext {
				t.Errorf("list: got %+v, want the one secret", list.Items)
			}
			ev := <-w.ResultChan()
			if sec, ok := ev.Object.(*corev1.Secret); !ok || string(sec.Data["password"]) != plaintext {
				t.Errorf("watch: got %s %#v, want the secret decrypted", ev.Type, ev.Object)
			}
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "conf"}, Data: map[string]string{"k": plaintext}}
			if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if v := stored(t, s, storage.Key("configmaps", "default", "conf")); !bytes.HasPrefix(v, []byte("{")) || !hasPlaintext(v) {
				t.Errorf("configmap (not configured): got %q, want plain JSON", v)
			}
		})
	}
}

// TestEncryptionResources: which stored values are encrypted follows the
// configuration's resources as kube-apiserver resolves them.
func TestEncryptionResources(t *testing.T) {
	for _, tt := range []struct {
		name          string
		resources     []string
		wantSecret    bool
		wantConfigMap bool
	}{
		{"secrets only", []string{"secrets"}, true, false},
		{"secrets and configmaps", []string{"secrets", "configmaps"}, true, true},
		{"every core resource", []string{"*."}, true, true},
		{"everything", []string{"*.*"}, true, true},
		{"another group's wildcard", []string{"*.apps"}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeEncryptionConfig(t, tt.resources, "aescbc:key1")
			s := apiservertest.StartWith(t, t.TempDir(), withEncryption(cfg))
			cs := kubernetes.NewForConfigOrDie(s.Config)
			ctx := context.Background()
			if _, err := cs.CoreV1().Secrets("default").Create(ctx, secret("db"), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "conf"}, Data: map[string]string{"k": plaintext}}
			if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				key  string
				want bool
			}{{storage.Key("secrets", "default", "db"), tt.wantSecret}, {storage.Key("configmaps", "default", "conf"), tt.wantConfigMap}} {
				v := stored(t, s, c.key)
				if got := bytes.HasPrefix(v, []byte("k8s:enc:aescbc:v1:key1:")); got != c.want {
					t.Errorf("%s encrypted: got %v, want %v", c.key, got, c.want)
				}
			}
		})
	}
}

// TestEncryptionKeyRotation is kube-apiserver's documented rotation: add
// a new key second (every server can read it), make it first (writes use
// it, the old key still decrypts), rewrite every secret, drop the old
// key. Secrets from before encryption was on read while identity is
// listed, and are encrypted when rewritten.
func TestEncryptionKeyRotation(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	key := storage.Key("secrets", "default", "db")
	oldKey := storage.Key("secrets", "default", "old")
	type step struct {
		name      string
		providers []string
		// rewrite replaces each secret with itself first.
		rewrite    bool
		wantPrefix map[string]string
	}
	steps := []step{
		{"no encryption yet", nil, false, map[string]string{oldKey: "{"}},
		{"key1 first, identity reads the old", []string{"aescbc:key1", "identity"}, false, map[string]string{oldKey: "{", key: "k8s:enc:aescbc:v1:key1:"}},
		{"key2 added second", []string{"aescbc:key1", "aescbc:key2", "identity"}, false, map[string]string{oldKey: "{", key: "k8s:enc:aescbc:v1:key1:"}},
		{"key2 first: old values still read", []string{"aescbc:key2", "aescbc:key1", "identity"}, false, map[string]string{oldKey: "{", key: "k8s:enc:aescbc:v1:key1:"}},
		{"rewritten with key2", []string{"aescbc:key2", "aescbc:key1", "identity"}, true, map[string]string{oldKey: "k8s:enc:aescbc:v1:key2:", key: "k8s:enc:aescbc:v1:key2:"}},
		{"key1 and identity dropped", []string{"aescbc:key2"}, false, map[string]string{oldKey: "k8s:enc:aescbc:v1:key2:", key: "k8s:enc:aescbc:v1:key2:"}},
	}
	for i, st := range steps {
		ok := t.Run(st.name, func(t *testing.T) {
			configure := func(*apiserver.Config) {}
			if st.providers != nil {
				configure = withEncryption(writeEncryptionConfig(t, []string{"secrets"}, st.providers...))
			}
			s := apiservertest.StartWith(t, dir, configure)
			defer s.Server.Close() // the next step reuses the data dir
			cs := kubernetes.NewForConfigOrDie(s.Config)
			switch i {
			case 0:
				if _, err := cs.CoreV1().Secrets("default").Create(ctx, secret("old"), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			case 1:
				if _, err := cs.CoreV1().Secrets("default").Create(ctx, secret("db"), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			list, err := cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			for _, sec := range list.Items {
				if string(sec.Data["password"]) != plaintext {
					t.Errorf("%s: got %q, want %q", sec.Name, sec.Data["password"], plaintext)
				}
				if st.rewrite {
					// kubectl get secrets -o json | kubectl replace -f -
					if _, err := cs.CoreV1().Secrets("default").Update(ctx, &sec, metav1.UpdateOptions{}); err != nil {
						t.Fatalf("rewriting %s: %v", sec.Name, err)
					}
				}
			}
			for k, want := range st.wantPrefix {
				if v := stored(t, s, k); !bytes.HasPrefix(v, []byte(want)) {
					t.Errorf("%s: stored value starts %q, want prefix %q", k, v[:min(len(v), 30)], want)
				}
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}

// TestEncryptionConfigInvalid: the file is validated as kube-apiserver
// validates it, and the apiserver does not start on a bad one.
func TestEncryptionConfigInvalid(t *testing.T) {
	for _, tt := range []struct {
		name, body, want string
	}{
		{"short aescbc key", "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aescbc:\n      keys:\n      - name: k\n        secret: " + base64.StdEncoding.EncodeToString([]byte("short")) + "\n", "secret is not of the expected length"},
		{"wrong kind", "apiVersion: apiserver.config.k8s.io/v1\nkind: Nope\n", "no kind \"Nope\""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "enc.yaml")
			if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := apiserver.NewConfig()
			cfg.Listen = []string{"127.0.0.1:0"}
			cfg.DataDir = t.TempDir()
			cfg.UnsafeNoFsync = true
			cfg.EncryptionProviderConfig = path
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := apiserver.Start(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("started, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--encryption-provider-config") {
				t.Errorf("got %v, want it to name the flag and say %q", err, tt.want)
			}
		})
	}
}
