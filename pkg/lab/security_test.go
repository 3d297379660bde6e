package lab

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/server/options/encryptionconfig"
)

// TestLabEncryptionConfig: the first up writes a config kube-apiserver's
// loader accepts, readable by its owner only, with a key of its own;
// later ups keep it.
func TestLabEncryptionConfig(t *testing.T) {
	p := paths{t.TempDir()}
	if err := writeEncryptionConfig(p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p.encryptionConfig())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v, want 0600", fi.Mode().Perm())
	}
	first, _ := os.ReadFile(p.encryptionConfig())
	ec, err := encryptionconfig.LoadEncryptionConfig(context.Background(), p.encryptionConfig(), false, "test")
	if err != nil {
		t.Fatalf("kube-apiserver's loader: %v", err)
	}
	if ec.Transformers[schema.GroupResource{Resource: "secrets"}] == nil {
		t.Errorf("no transformer for secrets: %v", ec.Transformers)
	}
	if err := writeEncryptionConfig(p); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(p.encryptionConfig()); string(again) != string(first) {
		t.Error("a second up replaced the key")
	}
	other := paths{t.TempDir()}
	if err := writeEncryptionConfig(other); err != nil {
		t.Fatal(err)
	}
	if o, _ := os.ReadFile(other.encryptionConfig()); string(o) == string(first) {
		t.Error("two labs got the same key")
	}
}

func TestLabAPIServerSecurityFlags(t *testing.T) {
	p := paths{"/state"}
	cs := planComponents(p, map[string]string{"apiserver": "/b/apiserver"}, Nodes(1))
	i := slices.IndexFunc(cs, func(c Component) bool { return c.Name == "apiserver" })
	if i < 0 {
		t.Fatal("no apiserver component")
	}
	args := strings.Join(cs[i].Args, " ")
	for _, want := range []string{"--encryption-provider-config /state/encryption-config.yaml", "--audit-log-path /state/logs/apiserver-audit.log"} {
		if !strings.Contains(args, want) {
			t.Errorf("apiserver args lack %q: %s", want, args)
		}
	}
	for _, c := range cs {
		if c.Name != "apiserver" && strings.Contains(strings.Join(c.Args, " "), "--audit-log-path") {
			t.Errorf("%s got the apiserver's flags", c.Name)
		}
	}
}
