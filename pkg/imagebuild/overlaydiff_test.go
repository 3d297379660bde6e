package imagebuild

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/mount"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestUpperLayer builds an overlay upper directory by hand (a whiteout is
// a 0/0 character device, an opaque directory has the trusted.overlay.opaque
// xattr: both need root, as the lab does) and checks the layer's entries.
func TestUpperLayer(t *testing.T) {
	upper := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(upper, "app/cache"), 0o755))
	must(os.WriteFile(filepath.Join(upper, "app/a.txt"), []byte("aa"), 0o640))
	must(os.Link(filepath.Join(upper, "app/a.txt"), filepath.Join(upper, "app/b.txt")))
	must(os.Symlink("a.txt", filepath.Join(upper, "app/link")))
	must(os.Chown(filepath.Join(upper, "app/a.txt"), 1000, 1001))
	must(unix.Mknod(filepath.Join(upper, "app/gone"), unix.S_IFCHR, 0))
	must(unix.Setxattr(filepath.Join(upper, "app/cache"), "trusted.overlay.opaque", []byte("y"), 0))
	epoch := time.Unix(1700000000, 0).UTC()

	l, err := writeUpperLayer(upper, filepath.Join(t.TempDir(), "l.tar.gz"), &epoch)
	must(err)
	got := layerEntries(t, l)
	want := []entry{
		{Name: "app/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "app/a.txt", Type: tar.TypeReg, Mode: 0o640, UID: 1000, GID: 1001, Data: "aa"},
		{Name: "app/b.txt", Type: tar.TypeLink, Mode: 0o640, UID: 1000, GID: 1001, Link: "app/a.txt"},
		{Name: "app/cache/", Type: tar.TypeDir, Mode: 0o755},
		{Name: "app/cache/.wh..wh..opq", Type: tar.TypeReg, Mode: 0o600},
		{Name: "app/.wh.gone", Type: tar.TypeReg, Mode: 0o600},
		{Name: "app/link", Type: tar.TypeSymlink, Mode: 0o777, Link: "a.txt"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("layer entries (-want +got):\n%s", diff)
	}
	// The digests are those of the bytes written.
	d, _ := l.Digest()
	b, err := os.ReadFile(l.(*fileLayer).path)
	must(err)
	if got := sha256Hash(b); got != d {
		t.Errorf("digest: got %s, want %s (of the file)", d, got)
	}

	// A renamed directory (redirect_dir) leaves its contents below: the
	// upper directory is not the whole change.
	redirected := t.TempDir()
	must(os.Mkdir(filepath.Join(redirected, "moved"), 0o755))
	must(unix.Setxattr(filepath.Join(redirected, "moved"), "trusted.overlay.redirect", []byte("/orig"), 0))
	if _, err := writeUpperLayer(redirected, filepath.Join(t.TempDir(), "r.tar.gz"), nil); !errors.Is(err, errIndirectOverlay) {
		t.Errorf("redirect_dir: got %v, want errIndirectOverlay", err)
	}

	// No changes: no layer.
	l, err = writeUpperLayer(t.TempDir(), filepath.Join(t.TempDir(), "e.tar.gz"), nil)
	if err != nil || l != nil {
		t.Errorf("empty upper: got %v, %v; want no layer", l, err)
	}
}

func TestUpperDir(t *testing.T) {
	cases := []struct {
		name   string
		mounts []mount.Mount
		want   string
		ok     bool
	}{
		{"overlay", []mount.Mount{{Type: "overlay", Source: "overlay", Options: []string{"index=off", "workdir=/s/2/work", "upperdir=/s/2/fs", "lowerdir=/s/1/fs"}}}, "/s/2/fs", true},
		{"bind without parent", []mount.Mount{{Type: "bind", Source: "/s/1/fs", Options: []string{"rbind", "rw"}}}, "/s/1/fs", true},
		{"other", []mount.Mount{{Type: "ext4", Source: "/dev/x"}}, "", false},
	}
	for _, tc := range cases {
		got, ok := upperDir(tc.mounts)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
