package imagebuild

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/mount"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"golang.org/x/sys/unix"
)

// upperDir finds the directory holding an active overlayfs snapshot's own
// changes: the upperdir of an overlay mount, or the directory of a bind
// mount (a snapshot without parent, where every file is new).
func upperDir(mounts []mount.Mount) (string, bool) {
	if len(mounts) != 1 {
		return "", false
	}
	m := mounts[0]
	switch m.Type {
	case "overlay":
		for _, o := range m.Options {
			if strings.HasPrefix(o, "upperdir=") {
				return strings.TrimPrefix(o, "upperdir="), true
			}
		}
	case "bind":
		return m.Source, true
	}
	return "", false
}

// hashWriter hashes what passes through it and counts it.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(b []byte) (int, error) {
	n, err := hw.w.Write(b)
	hw.h.Write(b[:n])
	hw.n += int64(n)
	return n, err
}

// writeUpperLayer writes the changes in an overlay upper directory as a
// gzip layer at file, in one pass (tar, diffID hash, gzip at its fastest
// level, digest hash), and returns the layer; nil when nothing changed.
//
// This is what containerd's diff service computes for an overlay snapshot,
// without its cost: the walking differ mounts both trees and compares
// them, then gzips at the default level and stores the blob, which the
// client then copies out over gRPC; the upper directory already holds
// exactly the changes. Whiteouts (0/0 character devices) become
// .wh.NAME entries and opaque directories a .wh..wh..opq entry, as in
// every layer tar.
func writeUpperLayer(upper, file string, epoch *time.Time) (v1.Layer, error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(file)
		}
	}()
	compressed := &hashWriter{w: f, h: sha256.New()}
	zw, err := gzip.NewWriterLevel(compressed, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	uncompressed := &hashWriter{w: zw, h: sha256.New()}
	tw := tar.NewWriter(uncompressed)
	entries := 0
	inodes := map[uint64]string{}
	err = filepath.WalkDir(upper, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == upper {
			return nil
		}
		rel, err := filepath.Rel(upper, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		mtime := fi.ModTime()
		if epoch != nil && mtime.After(*epoch) {
			mtime = *epoch
		}
		// A whiteout: the file was deleted.
		if fi.Mode()&fs.ModeCharDevice != 0 && st != nil && st.Rdev == 0 {
			dir, base := pathSplit(rel)
			entries++
			wt := time.Unix(0, 0)
			if epoch != nil {
				wt = *epoch
			}
			return tw.WriteHeader(&tar.Header{Name: dir + ".wh." + base, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: wt, Format: tar.FormatPAX})
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = rel
		h.Uname, h.Gname = "", ""
		h.ModTime = mtime.Truncate(time.Second)
		h.AccessTime, h.ChangeTime = time.Time{}, time.Time{}
		h.Format = tar.FormatPAX
		if st != nil {
			h.Uid, h.Gid = int(st.Uid), int(st.Gid)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if h.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if overlayIndirect(p) {
			return errIndirectOverlay
		}
		if cap, err := getxattr(p, "security.capability"); err == nil && len(cap) > 0 {
			h.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(cap)}
		}
		if fi.Mode().IsRegular() && st != nil && st.Nlink > 1 {
			if first, ok := inodes[st.Ino]; ok {
				h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			} else {
				inodes[st.Ino] = rel
			}
		}
		if fi.IsDir() {
			h.Name += "/"
		}
		entries++
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.IsDir() && isOpaque(p) {
			entries++
			if err := tw.WriteHeader(&tar.Header{Name: rel + "/.wh..wh..opq", Typeflag: tar.TypeReg, Mode: 0o600, ModTime: h.ModTime, Format: tar.FormatPAX}); err != nil {
				return err
			}
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.CopyN(tw, src, h.Size)
			src.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
		}
		return nil
	})
	if errors.Is(err, errIndirectOverlay) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("reading the step's changes: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	ok = true
	if entries == 0 {
		os.Remove(file)
		return nil, nil
	}
	return &fileLayer{path: file, owned: true, size: compressed.n, mediaType: types.DockerLayer,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.h.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(uncompressed.h.Sum(nil))}}, nil
}

// errIndirectOverlay says that the upper directory does not hold the
// whole change: a renamed directory (redirect_dir) or a file whose data
// stays in a lower layer (metacopy). The diff service, which compares the
// mounted trees, is right for those.
var errIndirectOverlay = errors.New("the overlay upper directory refers to lower layers")

// overlayIndirect reports the xattrs of redirect_dir and metacopy.
func overlayIndirect(p string) bool {
	for _, prefix := range []string{"trusted.", "user."} {
		for _, name := range []string{"overlay.redirect", "overlay.metacopy"} {
			if _, err := getxattr(p, prefix+name); err == nil {
				return true
			}
		}
	}
	return false
}

// pathSplit splits a slash path into its directory (with a trailing
// slash, or empty) and base.
func pathSplit(rel string) (string, string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i+1], rel[i+1:]
}

// isOpaque reports an overlay opaque directory (its lower contents are
// hidden), marked by the trusted. or user. overlay xattr.
func isOpaque(p string) bool {
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if v, err := getxattr(p, name); err == nil && string(v) == "y" {
			return true
		}
	}
	return false
}

func getxattr(p, name string) ([]byte, error) {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if errors.Is(err, unix.ERANGE) {
		buf = make([]byte, 64<<10)
		n, err = unix.Lgetxattr(p, name, buf)
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}
