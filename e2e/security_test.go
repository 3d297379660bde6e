//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"minik8s/pkg/lab"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

func marker(what string) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "e2e-" + what + "-" + hex.EncodeToString(b)
}

// etcdFilesHold tells whether any file of the lab's etcd (WAL, snapshots,
// database) holds s.
func etcdFilesHold(t *testing.T, s string) bool {
	t.Helper()
	found := false
	err := filepath.WalkDir(filepath.Join(lab.DefaultDir(), "apiserver"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		found = bytes.Contains(data, []byte(s))
		return nil
	})
	if err != nil {
		t.Fatalf("reading the lab's etcd files: %v", err)
	}
	return found
}

// TestSecretsEncryptedAtRestOnTheLab: with no flag from the user, a
// Secret's data is nowhere in the lab's etcd files, in clear or in the
// base64 of its JSON, while a ConfigMap's is (so the search would find
// it); the Secret reads back through the API.
func TestSecretsEncryptedAtRestOnTheLab(t *testing.T) {
	ns := namespace(t)
	ctx := context.Background()
	fi, err := os.Stat(filepath.Join(lab.DefaultDir(), "encryption-config.yaml"))
	if err != nil {
		t.Fatalf("the lab's encryption config: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("encryption config mode: got %v, want 0600", fi.Mode().Perm())
	}
	secretData, cmData := marker("secret"), marker("configmap")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "at-rest"}, Data: map[string][]byte{"v": []byte(secretData)}}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "at-rest"}, Data: map[string]string{"v": cmData}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The WAL has every committed write before the API answers.
	if !etcdFilesHold(t, cmData) {
		t.Fatal("the ConfigMap's data is not in the etcd files either: the search cannot see writes")
	}
	if !etcdFilesHold(t, "k8s:enc:aescbc:v1:key1:") {
		t.Error("no value with the aescbc prefix in the etcd files")
	}
	for _, s := range []string{secretData, base64.StdEncoding.EncodeToString([]byte(secretData))} {
		if etcdFilesHold(t, s) {
			t.Errorf("the etcd files hold the Secret's data as %q", s)
		}
	}
	got, err := cs.CoreV1().Secrets(ns).Get(ctx, "at-rest", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Data["v"]) != secretData {
		t.Errorf("secret reads back as %q, want %q", got.Data["v"], secretData)
	}
}

// TestAuditLogOnTheLab: the lab's audit log has the create of a
// ConfigMap, as an audit.k8s.io/v1 Event with who, what and the answer,
// and `ctl lab logs apiserver-audit` shows it.
func TestAuditLogOnTheLab(t *testing.T) {
	ns := namespace(t)
	name := marker("audited")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(lab.DefaultDir(), "logs", "apiserver-audit.log")
	eventually(t, 10*time.Second, "the create in the audit log", func() error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			if !bytes.Contains(sc.Bytes(), []byte(name)) {
				continue
			}
			var ev auditv1.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				return fmt.Errorf("not an Event: %v: %s", err, sc.Text())
			}
			if ev.Verb != "create" || ev.ObjectRef == nil || ev.ObjectRef.Resource != "configmaps" || ev.ObjectRef.Namespace != ns || ev.User.Username == "" || ev.ResponseStatus == nil || ev.ResponseStatus.Code != 201 || ev.Level != auditv1.LevelMetadata {
				return fmt.Errorf("got %s", sc.Text())
			}
			return nil
		}
		return fmt.Errorf("no event names %s", name)
	})
	out, err := ctl("lab", "logs", "apiserver-audit")
	if err != nil || !bytes.Contains([]byte(out), []byte(name)) {
		t.Errorf("ctl lab logs apiserver-audit: %v, output lacks %s", err, name)
	}
}
