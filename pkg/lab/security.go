package lab

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The lab's apiserver keeps Secrets encrypted in etcd and writes an audit
// log, with nothing for the user to do: the key is made at the first
// `lab up` and lives (0600) in the state directory, beside the etcd
// data it protects, until `lab down` removes both.

func (p paths) encryptionConfig() string { return filepath.Join(p.dir, "encryption-config.yaml") }

// auditLogName is the audit log's name among the components' logs
// (`ctl lab logs apiserver-audit`).
const auditLogName = "apiserver-audit"

func (p paths) auditLog() string { return p.log(auditLogName) }

// apiserverSecurityArgs are the apiserver flags for both: Secrets
// encrypted with the lab's key, and every request in the audit log at
// Metadata level (no bodies: no Secret data in the log), rotated at
// 100 MiB with 3 old files kept.
func apiserverSecurityArgs(p paths) []string {
	return []string{
		"--encryption-provider-config", p.encryptionConfig(),
		"--audit-log-path", p.auditLog(),
		"--audit-log-maxsize", "100",
		"--audit-log-maxbackup", "3",
	}
}

// withAPIServerArgs appends args to the apiserver component of cs.
func withAPIServerArgs(cs []Component, args ...string) []Component {
	for i := range cs {
		if cs[i].Name == "apiserver" {
			cs[i].Args = append(cs[i].Args, args...)
		}
	}
	return cs
}

// encryptionConfig is kube-apiserver's EncryptionConfiguration with one
// aescbc key for Secrets; identity second, so a Secret written before
// the key existed still reads.
func encryptionConfig(key []byte) string {
	return fmt.Sprintf(`apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
- resources:
  - secrets
  providers:
  - aescbc:
      keys:
      - name: key1
        secret: %s
  - identity: {}
`, base64.StdEncoding.EncodeToString(key))
}

// writeEncryptionConfig makes the lab's key (32 random bytes: AES-256)
// unless it is there already; an existing file is kept, since the etcd
// data beside it is encrypted with it.
func writeEncryptionConfig(p paths) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("making the lab's encryption key: %w", err)
	}
	f, err := os.OpenFile(p.encryptionConfig(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("writing the lab's encryption config: %w", err)
	}
	if _, err := f.WriteString(encryptionConfig(key)); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", p.encryptionConfig(), err)
	}
	return f.Close()
}
