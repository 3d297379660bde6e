package apiserver_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// BenchmarkSecretCreate creates Secrets through the API, 8 clients at a
// time on 2 cores, with the values stored as they are, encrypted by each provider,
// and with the default audit log on: the cost of encryption at rest and
// of auditing on writes (compare the secrets/s).
func BenchmarkSecretCreate(b *testing.B) {
	for _, tt := range []struct {
		name      string
		providers []string
		audit     bool
	}{
		{"plain", nil, false},
		{"aescbc", []string{"aescbc:key1"}, false},
		{"aesgcm", []string{"aesgcm:key1"}, false},
		{"secretbox", []string{"secretbox:key1"}, false},
		{"plain+audit", nil, true},
		{"aescbc+audit", []string{"aescbc:key1"}, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var enc string
			if tt.providers != nil {
				enc = writeEncryptionConfig(b, []string{"secrets"}, tt.providers...)
			}
			auditLog := filepath.Join(b.TempDir(), "audit.log")
			s := apiservertest.StartWith(b, b.TempDir(), func(c *apiserver.Config) {
				c.EncryptionProviderConfig = enc
				if tt.audit {
					c.AuditLogPath = auditLog
				}
			})
			cfg := rest.CopyConfig(s.Config)
			cfg.QPS = -1 // no client-side rate limit: it would be what is measured
			cs := kubernetes.NewForConfigOrDie(cfg)
			ctx := context.Background()
			var n atomic.Int64
			b.SetParallelism(4) // 4 goroutines per GOMAXPROCS: 8 on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					sec := secret(fmt.Sprintf("s-%d", n.Add(1)))
					sec.Data["blob"] = make([]byte, 1024)
					if _, err := cs.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "secrets/s")
		})
	}
}
