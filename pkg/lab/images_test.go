package lab

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// layerFiles reads an image's only layer: name → linkname or size.
func layerFiles(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %d", err, len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = h
	}
}

func TestEchoImages(t *testing.T) {
	imgs, err := echoImages([]byte("#!fake echo binary"))
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, imgs["latest"])
	if h := files["echo"]; h == nil || h.Mode != 0o755 || h.Size != int64(len("#!fake echo binary")) {
		t.Errorf("echo entry: got %+v", h)
	}
	greeting := func(tag string) string {
		cf, err := imgs[tag].ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(cf.Config.Entrypoint, " "); got != "/echo" {
			t.Errorf("%s entrypoint: got %q, want /echo", tag, got)
		}
		for _, e := range cf.Config.Env {
			if g, ok := strings.CutPrefix(e, "GREETING="); ok {
				return g
			}
		}
		return ""
	}
	if g1, g2 := greeting("v1"), greeting("v2"); g1 == g2 || g1 != greetingV1 || g2 != greetingV2 {
		t.Errorf("greetings: v1 %q, v2 %q", g1, g2)
	}
	d1, _ := imgs["v1"].Digest()
	dl, _ := imgs["latest"].Digest()
	d2, _ := imgs["v2"].Digest()
	if d1 != dl || d1 == d2 {
		t.Errorf("digests: v1 %s latest %s v2 %s: want latest == v1 != v2", d1, dl, d2)
	}
	// Same input, same digest: `up` compares digests to skip pushes.
	again, _ := echoImages([]byte("#!fake echo binary"))
	if d, _ := again["v1"].Digest(); d != d1 {
		t.Errorf("rebuild digest %s, want %s", d, d1)
	}
}

func TestToolboxLayer(t *testing.T) {
	if _, err := os.Stat(busyboxBin); err != nil {
		t.Skip("busybox-static not installed")
	}
	img, err := toolboxImage(busyboxBin)
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	if h := files["bin/busybox"]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Fatalf("bin/busybox: got %+v", h)
	}
	for _, applet := range []string{"sh", "wget", "nc", "nslookup", "sleep", "cat", "ls"} {
		h := files["bin/"+applet]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "busybox" {
			t.Errorf("bin/%s: got %+v, want a symlink to busybox", applet, h)
		}
	}
}

func TestRetarget(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nginx:1.25", "10.200.0.1:5000/library/nginx:1.25"},
		{"minik8s/echo", "10.200.0.1:5000/minik8s/echo:latest"},
		{"docker.io/minik8s/echo:v2", "10.200.0.1:5000/minik8s/echo:v2"},
		{"quay.io/org/app:1", "10.200.0.1:5000/quay.io/org/app:1"},
	}
	for _, tt := range tests {
		got, err := retarget(RegistryAddr, tt.in)
		if err != nil {
			t.Fatalf("retarget(%q): %v", tt.in, err)
		}
		if got.String() != tt.want {
			t.Errorf("retarget(%q): got %s, want %s", tt.in, got, tt.want)
		}
		if got.Scheme() != "http" {
			t.Errorf("retarget(%q): scheme %s, want http", tt.in, got.Scheme())
		}
	}
	_ = name.Insecure
}

func TestNextBackoff(t *testing.T) {
	tests := []struct {
		prev, ran, want string
	}{
		{"0s", "1s", "1s"},
		{"1s", "1s", "2s"},
		{"16s", "1s", "30s"},
		{"30s", "1s", "30s"},
		{"30s", "2m", "1s"},
	}
	for _, tt := range tests {
		prev, ran, want := mustDur(tt.prev), mustDur(tt.ran), mustDur(tt.want)
		if got := nextBackoff(prev, ran); got != want {
			t.Errorf("nextBackoff(%s, %s): got %s, want %s", tt.prev, tt.ran, got, want)
		}
	}
}
