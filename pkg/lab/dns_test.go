package lab

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"minik8s/pkg/addons"
)

func TestCoreDNSImage(t *testing.T) {
	img, err := corednsImage([]byte("#!fake coredns"))
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	if h := files["coredns"]; h == nil || h.Mode != 0o755 {
		t.Errorf("coredns entry: got %+v, want mode 0755", h)
	}
	if files["etc/coredns/"] == nil || files["tmp/"] == nil {
		t.Errorf("got files %v, want etc/coredns/ and tmp/", files)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cf.Config.Entrypoint, " "); got != "/coredns" {
		t.Errorf("got entrypoint %q, want /coredns", got)
	}
	again, _ := corednsImage([]byte("#!fake coredns"))
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("got digests %s and %s for the same binary, want one", d1, d2)
	}
}

// TestAPIServerMasquerade loads the node table into a throwaway network
// namespace: nft must accept it as written.
func TestAPIServerMasquerade(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (nftables in a new network namespace): run the tests as root")
	}
	cmd := exec.Command("unshare", "--net", "sh", "-c", "nft -f - && nft list table ip minik8s-lab-node")
	cmd.Stdin = strings.NewReader(apiserverMasquerade())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	want := `ip saddr 10.244.0.0/16 ip daddr 10.200.0.1 tcp dport 6443 oifname "eth0" masquerade`
	if !strings.Contains(string(out), want) {
		t.Errorf("got table\n%s\nwant the rule %q", out, want)
	}
}

func TestPlanSetsClusterDNS(t *testing.T) {
	cs := planComponents(paths{"/tmp/lab"}, map[string]string{"kubelet-lite": "kubelet-lite"}, Nodes(1))
	c, ok := (&State{Components: cs}).component(Node{Index: 1}.Component())
	if !ok {
		t.Fatal("no agent component")
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--cluster-dns 10.96.0.10", "--cluster-domain cluster.local"} {
		if !strings.Contains(args, want) {
			t.Errorf("got agent args %q, want %q", args, want)
		}
	}
}

// TestPushCoreDNSRealRegistry: `ctl image push-coredns` pushes the image
// under the add-on's tag and latest; a refused (dynamic) binary pushes
// nothing.
func TestPushCoreDNSRealRegistry(t *testing.T) {
	reg := startRegistry(t)
	bin := filepath.Join(t.TempDir(), "coredns")
	if err := os.WriteFile(bin, staticEcho(t), 0o755); err != nil {
		t.Fatal(err)
	}
	registry := reg
	cmd := newPushCoreDNSCommand(context.Background(), &registry)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--coredns", bin})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{addons.CoreDNSVersion, "latest"} {
		ref, _ := name.ParseReference(reg+"/minik8s/coredns:"+tag, name.Insecure)
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatalf("pulling %s: %v", ref, err)
		}
		if h := layerFiles(t, img)["coredns"]; h == nil || h.Mode != 0o755 {
			t.Errorf("%s: got coredns entry %+v, want an executable", ref, h)
		}
	}
	if !strings.Contains(out.String(), "pushed "+reg+"/minik8s/coredns:"+addons.CoreDNSVersion) {
		t.Errorf("got output %q, want the pushed reference", out.String())
	}
	script := filepath.Join(t.TempDir(), "coredns")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	if err := ensureCoreDNSImage(context.Background(), reg, script, ""); err == nil || !strings.Contains(err.Error(), "cmd/coredns") {
		t.Errorf("got %v, want the refusal naming how to build cmd/coredns", err)
	}
}
