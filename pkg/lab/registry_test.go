package lab

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// startRegistry runs Debian's docker-registry on a free loopback port.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", dir, addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !waitReady(ctx, "http://"+addr+"/v2/", 10*time.Second) {
		t.Fatal("registry did not start")
	}
	return addr
}

// TestImagesRealRegistry builds the project's images, pushes them to a real
// docker-registry, pulls them back, skips pushes of unchanged images, and
// loads docker-archive and OCI-layout tarballs.
func TestImagesRealRegistry(t *testing.T) {
	if _, err := os.Stat(toolboxBusybox); err != nil {
		t.Skipf("%s missing: run deploy/install-deps.sh", toolboxBusybox)
	}
	reg := startRegistry(t)
	ctx := context.Background()
	echoBin := filepath.Join(t.TempDir(), "echo")
	// Bytes after the ELF's end change the binary, not whether it runs.
	echo := staticEcho(t)
	newEcho := append(append([]byte(nil), echo...), "a new echo binary"...)
	os.WriteFile(echoBin, echo, 0o755)
	// Any static binary stands for cmd/toolbox here.
	toolboxBin := filepath.Join(t.TempDir(), "toolbox")
	os.WriteFile(toolboxBin, echo, 0o755)
	bins := imageBinaries{echo: echoBin, busybox: toolboxBusybox, toolbox: toolboxBin}

	n, err := ensureImages(ctx, reg, bins)
	if err != nil {
		t.Fatal(err)
	}
	if n != 6 {
		t.Errorf("first push: pushed %d, want 6", n)
	}
	if n, err := ensureImages(ctx, reg, bins); err != nil || n != 0 {
		t.Errorf("second push: pushed %d (%v), want 0", n, err)
	}
	cache := filepath.Join(t.TempDir(), "pushed.json")
	if n, err := ensureImagesCached(ctx, reg, bins, cache); err != nil || n != 0 {
		t.Errorf("cached push (registry already full): pushed %d (%v), want 0", n, err)
	}
	start := time.Now()
	if n, err := ensureImagesCached(ctx, reg, bins, cache); err != nil || n != 0 {
		t.Errorf("cached push, cache warm: pushed %d (%v), want 0", n, err)
	}
	t.Logf("cache hit took %s", time.Since(start))
	os.WriteFile(echoBin, newEcho, 0o755)
	if n, err := ensureImagesCached(ctx, reg, bins, cache); err != nil || n != 3 {
		t.Errorf("push after the echo binary changed: pushed %d (%v), want 3", n, err)
	}
	os.WriteFile(echoBin, echo, 0o755)
	ensureImages(ctx, reg, bins)
	// Pull back and read the layer.
	ref, _ := name.ParseReference(reg+"/minik8s/echo:v2", name.Insecure)
	img, err := remote.Image(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	if files["echo"] == nil {
		t.Errorf("pulled echo:v2 lacks /echo: %v", files)
	}
	cf, _ := img.ConfigFile()
	if got := cf.Config.Env; len(got) < 2 || got[1] != "GREETING="+greetingV2 {
		t.Errorf("pulled echo:v2 env %v", got)
	}

	// A docker-archive tarball with a tag.
	dir := t.TempDir()
	rnd, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("example.org/team/app:1.0")
	dockerTar := filepath.Join(dir, "docker.tar")
	if err := tarball.WriteToFile(dockerTar, tag, rnd); err != nil {
		t.Fatal(err)
	}
	refs, err := LoadImage(ctx, reg, dockerTar, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != reg+"/example.org/team/app:1.0" {
		t.Errorf("docker archive pushed %v", refs)
	}
	// An OCI layout, tarred, named with --name.
	lp, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(rnd); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(dir, "oci.tar")
	if err := tarDir(filepath.Join(dir, "oci"), ociTar); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImage(ctx, reg, ociTar, ""); err == nil {
		t.Error("OCI layout without a name: want an error asking for --name")
	}
	refs, err = LoadImage(ctx, reg, ociTar, "nginx:1.25")
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 1 || refs[0] != reg+"/library/nginx:1.25" {
		t.Errorf("OCI layout pushed %v", refs)
	}
	list, err := ListImages(ctx, reg)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range list {
		seen[r.Repository+":"+r.Tag] = true
	}
	for _, want := range []string{"minik8s/echo:latest", "minik8s/echo:v1", "minik8s/echo:v2", "minik8s/toolbox:latest", "library/nginx:1.25", "example.org/team/app:1.0"} {
		if !seen[want] {
			t.Errorf("image ls lacks %s: %v", want, seen)
		}
	}
	// Not a tarball of images.
	bad := filepath.Join(dir, "bad.tar")
	os.WriteFile(bad, []byte("not a tar"), 0o644)
	if _, err := LoadImage(ctx, reg, bad, ""); err == nil {
		t.Error("LoadImage(garbage): want an error")
	}
	// A registry that is down: the push fails with the cause and the fix.
	if _, err := ensureImages(ctx, "127.0.0.1:1", bins); err == nil {
		t.Error("push to a closed port: want an error")
	} else {
		t.Logf("push error: %v", err)
	}
}

func tarDir(dir, out string) error {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tw.Write(data)
		}
		return nil
	})
	if err != nil {
		return err
	}
	tw.Close()
	return os.WriteFile(out, b.Bytes(), 0o644)
}
