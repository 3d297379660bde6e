package lab

import (
	"archive/tar"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
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

// TestToolboxLayer checks that busybox's applets link to busybox but
// those cmd/toolbox replaces link to it, and that the libraries busybox
// loads are there.
func TestToolboxLayer(t *testing.T) {
	if _, err := os.Stat(toolboxBusybox); err != nil {
		t.Skipf("%s missing: run deploy/install-deps.sh", toolboxBusybox)
	}
	toolbox := filepath.Join(t.TempDir(), "toolbox")
	if err := os.WriteFile(toolbox, staticEcho(t), 0o755); err != nil {
		t.Fatal(err)
	}
	img, err := toolboxImage(toolboxBusybox, toolbox)
	if err != nil {
		t.Fatal(err)
	}
	files := layerFiles(t, img)
	libs, err := sharedLibraries(toolboxBusybox)
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) == 0 {
		t.Errorf("%s: got no shared libraries, want Debian's dynamically linked busybox", toolboxBusybox)
	}
	for _, lib := range libs {
		if h := files[strings.TrimPrefix(lib, "/")]; h == nil || h.Typeflag != tar.TypeReg {
			t.Errorf("%s: got %+v, want a file", lib, h)
		}
	}
	for _, bin := range []string{"bin/busybox", "bin/toolbox"} {
		if h := files[bin]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			t.Fatalf("%s: got %+v, want an executable file", bin, h)
		}
	}
	tests := []struct{ applet, want string }{
		{"sh", "busybox"}, {"nc", "busybox"}, {"nslookup", "busybox"}, {"sleep", "busybox"},
		{"cat", "busybox"}, {"ls", "busybox"}, {"timeout", "busybox"},
		{"wget", "toolbox"}, {"curl", "toolbox"},
	}
	for _, tt := range tests {
		h := files["bin/"+tt.applet]
		if h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != tt.want {
			t.Errorf("bin/%s: got %+v, want a symlink to %s", tt.applet, h, tt.want)
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
		// Ten seconds up is a good start: the next exit is no crash loop.
		{"8s", "3s", "16s"},
		{"30s", "10s", "1s"},
	}
	for _, tt := range tests {
		prev, ran, want := mustDur(tt.prev), mustDur(tt.ran), mustDur(tt.want)
		if got := nextBackoff(prev, ran); got != want {
			t.Errorf("nextBackoff(%s, %s): got %s, want %s", tt.prev, tt.ran, got, want)
		}
	}
}

// buildBinary builds a tiny Go program; CGO_ENABLED and its imports decide
// whether it links dynamically.
func buildBinary(t *testing.T, cgo, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "prog")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, "main.go")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo, "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build (CGO_ENABLED=%s): %v: %s", cgo, err, b)
	}
	return out
}

var (
	staticOnce sync.Once
	staticBin  []byte
)

// staticEcho returns the bytes of a static Go binary, built once per run;
// the project's images refuse anything else.
func staticEcho(t *testing.T) []byte {
	t.Helper()
	staticOnce.Do(func() {
		staticBin, _ = os.ReadFile(buildBinary(t, "0", "package main\n\nfunc main() {}\n"))
	})
	if len(staticBin) == 0 {
		t.Fatal("building a static binary failed")
	}
	return staticBin
}

func TestCheckImageBinary(t *testing.T) {
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	if err := os.WriteFile(static, staticEcho(t), 0o755); err != nil {
		t.Fatal(err)
	}
	// cgo on and the net package: linked against the C library where gcc
	// is installed; /bin/ls (dynamic on Debian) where it is not.
	dynamic := buildBinary(t, "1", "package main\n\nimport \"net\"\n\nfunc main() { net.LookupHost(\"localhost\") }\n")
	if f, err := elf.Open(dynamic); err == nil {
		if f.Section(".interp") == nil {
			dynamic = "/bin/ls"
		}
		f.Close()
	}
	// The static binary with its machine changed to one this is not.
	other := filepath.Join(dir, "other")
	b := append([]byte(nil), staticEcho(t)...)
	m := elf.EM_AARCH64
	if runtime.GOARCH == "arm64" {
		m = elf.EM_X86_64
	}
	binary.LittleEndian.PutUint16(b[18:], uint16(m)) // e_machine
	if err := os.WriteFile(other, b, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string // in the error; none: accepted
	}{
		{name: "static", path: static},
		{name: "dynamic", path: dynamic, want: []string{"dynamically linked (interpreter /lib", "CGO_ENABLED=0 go build -o bin/ ./cmd/..."}},
		{name: "another machine", path: other, want: []string{"built for " + m.String(), "this machine is " + runtime.GOARCH, "CGO_ENABLED=0"}},
		{name: "not ELF", path: script, want: []string{"not a readable ELF executable", "CGO_ENABLED=0"}},
		{name: "missing", path: filepath.Join(dir, "nothing"), want: []string{"no such file", "CGO_ENABLED=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkImageBinary(tt.path, echoFix)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got no error, want one with %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// The lab checks busybox and the toolbox too, naming their fixes;
	// busybox may be dynamically linked, its libraries go with it.
	if err := checkImageBinaries(imageBinaries{echo: static, busybox: dynamic, toolbox: static}); err != nil {
		t.Errorf("checkImageBinaries(dynamic busybox): got %v, want none", err)
	}
	if err := checkImageBinaries(imageBinaries{echo: static, busybox: script, toolbox: static}); err == nil || !strings.Contains(err.Error(), "install-deps.sh") {
		t.Errorf("checkImageBinaries(busybox not ELF): got %v, want the install-deps.sh fix", err)
	}
	if err := checkImageBinaries(imageBinaries{echo: static, busybox: static, toolbox: dynamic}); err == nil || !strings.Contains(err.Error(), dynamic) || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("checkImageBinaries(dynamic toolbox): got %v, want it named with the CGO_ENABLED=0 fix", err)
	}
}
