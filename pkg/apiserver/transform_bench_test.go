package apiserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/storage/value"
)

// BenchmarkSecretTransform is the CPU cost encryption at rest adds to
// one Secret write and one read: the provider's TransformToStorage and
// TransformFromStorage of a Secret with 1 KiB of data, with no etcd and
// no HTTP around it (compare with BenchmarkSecretCreate's time per
// create).
func BenchmarkSecretTransform(b *testing.B) {
	sec := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"},
		Data:       map[string][]byte{"blob": make([]byte, 1024)},
	}
	data, err := json.Marshal(sec)
	if err != nil {
		b.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	for _, provider := range []string{"aescbc", "aesgcm", "secretbox"} {
		b.Run(provider, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "enc.yaml")
			cfg := "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - " + provider + ":\n      keys:\n      - name: key1\n        secret: " + key + "\n"
			if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
				b.Fatal(err)
			}
			f, err := encryptionAtRest(context.Background(), path)
			if err != nil {
				b.Fatal(err)
			}
			t := f("secrets")
			ctx := context.Background()
			dc := value.DefaultContext("/registry/secrets/default/db")
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				out, err := t.TransformToStorage(ctx, data, dc)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := t.TransformFromStorage(ctx, out, dc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuditedGet is the cost the audit log adds to a request: a GET
// of a ConfigMap through the whole handler chain (no HTTP connection),
// without an audit log and with the default policy (one Metadata event
// per request, written to a file).
func BenchmarkAuditedGet(b *testing.B) {
	for _, audited := range []bool{false, true} {
		name := "no-audit"
		if audited {
			name = "audit-metadata"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			cfg := NewConfig()
			cfg.Listen = []string{"127.0.0.1:0"}
			cfg.DataDir = filepath.Join(dir, "etcd")
			cfg.UnsafeNoFsync = true
			if audited {
				cfg.AuditLogPath = filepath.Join(dir, "audit.log")
			}
			if err := cfg.Validate(); err != nil {
				b.Fatal(err)
			}
			s, err := Start(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			h := s.Handler()
			create := httptest.NewRequest(http.MethodPost, "/api/v1/namespaces/default/configmaps", strings.NewReader(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}`))
			create.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, create)
			if w.Code != http.StatusCreated {
				b.Fatalf("create: got %d, want 201", w.Code)
			}
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/namespaces/default/configmaps/c", nil))
				if w.Code != http.StatusOK {
					b.Fatalf("get: got %d, want 200", w.Code)
				}
			}
		})
	}
}
