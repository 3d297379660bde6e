package ctl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestParseOutput(t *testing.T) {
	cases := []struct {
		in, kind, dest, err string
	}{
		{"", "", "", ""},
		{"type=oci,dest=a.tar", "oci", "a.tar", ""},
		{"dest=a.tar", "oci", "a.tar", ""},
		{"type=docker,dest=a.tar", "docker", "a.tar", ""},
		{"type=registry,dest=a", "", "", "only oci and docker"},
		{"type=oci", "", "", "needs dest"},
		{"type=oci,dest=a,x=y", "", "", `unknown key "x"`},
	}
	for _, tc := range cases {
		kind, dest, err := parseOutput(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseOutput(%q): got error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.kind || dest != tc.dest {
			t.Errorf("parseOutput(%q): got %q, %q, %v; want %q, %q", tc.in, kind, dest, err, tc.kind, tc.dest)
		}
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	got, err := sourceDateEpoch(map[string]string{})
	if err != nil || got == nil || got.Unix() != 1700000000 {
		t.Errorf("from the environment: got %v, %v", got, err)
	}
	got, err = sourceDateEpoch(map[string]string{"SOURCE_DATE_EPOCH": "5"})
	if err != nil || got == nil || got.Unix() != 5 {
		t.Errorf("--build-arg wins: got %v, %v", got, err)
	}
	if _, err := sourceDateEpoch(map[string]string{"SOURCE_DATE_EPOCH": "yesterday"}); err == nil {
		t.Error("a non-number: got no error")
	}
}

// TestImageBuildToTarball builds FROM scratch into a docker archive: no
// registry and no containerd are needed, and the archive is what `ctl
// image load` reads.
func TestImageBuildToTarball(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY a /a\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a"), []byte("a"), 0o644)
	file := filepath.Join(t.TempDir(), "out.tar")
	// No -t: nothing is pushed, only the tarball is written.
	o := &imageBuildOptions{Output: "type=docker,dest=" + file, CacheDir: t.TempDir(),
		Containerd: filepath.Join(t.TempDir(), "none.sock"), Registry: "127.0.0.1:1", LabDir: t.TempDir()}
	var out bytes.Buffer
	if err := runImageBuild(context.Background(), o, dir, &out); err != nil {
		t.Fatalf("build: %v\n%s", err, out.String())
	}
	img, err := tarball.ImageFromPath(file, nil)
	if err != nil {
		t.Fatalf("reading the archive: %v", err)
	}
	d, _ := img.Digest()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if got := lines[len(lines)-1]; got != d.String() {
		t.Errorf("last line: got %q, want the digest %s", got, d)
	}
	if ls, _ := img.Layers(); len(ls) != 1 {
		t.Errorf("got %d layers, want 1", len(ls))
	}

	// A RUN without containerd names the cause.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nRUN true\n"), 0o644)
	err = runImageBuild(context.Background(), o, dir, &out)
	if err == nil || !strings.Contains(err.Error(), "is the lab up?") {
		t.Errorf("RUN without containerd: got %v", err)
	}
	// No destination at all.
	o.Output = ""
	if err := runImageBuild(context.Background(), o, dir, &out); err == nil || !strings.Contains(err.Error(), "give the image a name") {
		t.Errorf("no destination: got %v", err)
	}
}
