package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// copySource is where COPY and ADD read: the build context (with its
// .dockerignore) or the file tree of another stage or image.
type copySource struct {
	root   string
	ignore *patternmatcher.PatternMatcher
}

// copyOp is one COPY or ADD after variable expansion.
type copyOp struct {
	src      copySource
	sources  []string
	contents []inlineFile // heredoc sources (COPY <<EOF dest)
	dest     string       // absolute in the image; a trailing / means a directory
	chown    bool
	uid, gid int
	chmod    *fs.FileMode
	unpack   bool // ADD: unpack local tar archives
	epoch    *time.Time
	isDir    func(string) bool // whether a path is a directory in the image so far
	exists   func(string) bool // whether a path exists in the image so far
}

type inlineFile struct {
	name string
	data []byte
}

// copyItem is one entry of the layer a COPY or ADD writes.
type copyItem struct {
	hdr  tar.Header
	data []byte
}

// readDockerignore reads the patterns of DOCKERFILE.dockerignore beside
// the Dockerfile, else CONTEXT/.dockerignore, as BuildKit does.
func readDockerignore(contextDir, dockerfile string) (*patternmatcher.PatternMatcher, error) {
	for _, p := range []string{dockerfile + ".dockerignore", filepath.Join(contextDir, ".dockerignore")} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return pm, nil
	}
	return nil, nil
}

// ignored reports whether rel (slash-separated, relative to the root) is
// excluded by the .dockerignore.
func (s copySource) ignored(rel string) bool {
	if s.ignore == nil || rel == "" || rel == "." {
		return false
	}
	m, err := s.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// hasGlob reports whether a source path is a pattern.
func hasGlob(p string) bool { return strings.ContainsAny(p, "*?[") }

// match resolves one source of a COPY to the paths it names under the
// root, relative and slash-separated.
func (s copySource) match(src string) ([]string, error) {
	rel := cleanRel(src)
	if !hasGlob(rel) {
		if _, err := os.Lstat(filepath.Join(s.root, filepath.FromSlash(rel))); err != nil || s.ignored(rel) {
			return nil, fmt.Errorf("failed to compute cache key: failed to calculate checksum of ref: %q: %w", "/"+rel, errNotFound)
		}
		return []string{rel}, nil
	}
	matches, err := filepath.Glob(filepath.Join(s.root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("bad source pattern %q: %w", src, err)
	}
	var out []string
	for _, m := range matches {
		r, err := filepath.Rel(s.root, m)
		if err != nil {
			return nil, err
		}
		r = filepath.ToSlash(r)
		if !s.ignored(r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("failed to compute cache key: failed to calculate checksum of ref: %q: %w", "/"+rel, errNotFound)
	}
	sort.Strings(out)
	return out, nil
}

// items lists the entries the copy writes, sorted by name, parents
// first; directories it must create are included.
func (op *copyOp) items() ([]copyItem, error) {
	var all []string
	for _, src := range op.sources {
		m, err := op.src.match(src)
		if err != nil {
			return nil, err
		}
		all = append(all, m...)
	}
	dest := op.dest
	multi := len(all)+len(op.contents) > 1 || (len(op.sources) == 1 && hasGlob(op.sources[0]) && len(all) > 1)
	destIsDir := strings.HasSuffix(dest, "/") || (op.isDir != nil && op.isDir(dest))
	if multi && !destIsDir {
		return nil, errors.New("When using COPY with more than one source file, the destination must be a directory and end with a /")
	}
	destClean := cleanRel(dest)
	var items []copyItem
	for _, rel := range all {
		host := filepath.Join(op.src.root, filepath.FromSlash(rel))
		fi, err := os.Stat(host) // the named source itself is followed if a symlink
		if err != nil {
			return nil, fmt.Errorf("failed to compute cache key: %q: %w", "/"+rel, errNotFound)
		}
		switch {
		case fi.IsDir():
			got, err := op.walkDir(host, rel, destClean, fi)
			if err != nil {
				return nil, err
			}
			items = append(items, got...)
		case op.unpack && isArchive(host):
			got, err := op.unpackArchive(host, destClean)
			if err != nil {
				return nil, err
			}
			items = append(items, got...)
		default:
			name := destClean
			if destIsDir || multi {
				name = path.Join(destClean, path.Base(rel))
			}
			it, err := op.fileItem(host, name, fi)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
	}
	for _, c := range op.contents {
		name := destClean
		if destIsDir || multi {
			name = path.Join(destClean, path.Base(c.name))
		}
		mode := fs.FileMode(0o644)
		if op.chmod != nil {
			mode = *op.chmod
		}
		items = append(items, copyItem{hdr: op.header(name, tar.TypeReg, mode, int64(len(c.data)), time.Time{}), data: c.data})
	}
	return op.withParents(items), nil
}

// walkDir copies the contents of a source directory (not the directory
// itself, as Docker does) to dest.
func (op *copyOp) walkDir(host, rel, dest string, top fs.FileInfo) ([]copyItem, error) {
	var items []copyItem
	if dest != "" {
		items = append(items, copyItem{hdr: op.header(dest, tar.TypeDir, op.mode(top.Mode()), 0, top.ModTime())})
	}
	err := filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == host {
			return nil
		}
		sub, err := filepath.Rel(host, p)
		if err != nil {
			return err
		}
		sub = filepath.ToSlash(sub)
		if op.src.ignored(path.Join(rel, sub)) {
			if d.IsDir() && !op.src.ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		it, err := op.fileItem(p, path.Join(dest, sub), fi)
		if err != nil {
			return err
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

// fileItem reads one file, directory or symlink of the source.
func (op *copyOp) fileItem(host, name string, fi fs.FileInfo) (copyItem, error) {
	switch {
	case fi.IsDir():
		return copyItem{hdr: op.header(name, tar.TypeDir, op.mode(fi.Mode()), 0, fi.ModTime())}, nil
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(host)
		if err != nil {
			return copyItem{}, err
		}
		h := op.header(name, tar.TypeSymlink, 0o777, 0, fi.ModTime())
		h.Linkname = target
		return copyItem{hdr: h}, nil
	case fi.Mode().IsRegular():
		data, err := os.ReadFile(host)
		if err != nil {
			return copyItem{}, err
		}
		return copyItem{hdr: op.header(name, tar.TypeReg, op.mode(fi.Mode()), int64(len(data)), fi.ModTime()), data: data}, nil
	}
	return copyItem{}, fmt.Errorf("cannot copy %s: only regular files, directories and symlinks are copied", host)
}

// mode is the mode an entry gets: --chmod, else the source's.
func (op *copyOp) mode(m fs.FileMode) fs.FileMode {
	if op.chmod != nil {
		return *op.chmod
	}
	out := m.Perm()
	if m&fs.ModeSetuid != 0 {
		out |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		out |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		out |= 0o1000
	}
	return out
}

// header is a tar header with the copy's owner and the build's time.
func (op *copyOp) header(name string, typ byte, mode fs.FileMode, size int64, mtime time.Time) tar.Header {
	h := tar.Header{Name: name, Typeflag: typ, Mode: int64(mode), Size: size, ModTime: op.mtime(mtime), Format: tar.FormatPAX}
	if op.chown {
		h.Uid, h.Gid = op.uid, op.gid
	}
	return h
}

// mtime keeps a source's modification time, clamped to SOURCE_DATE_EPOCH
// when one is set; entries made here get the epoch (or the Unix epoch).
func (op *copyOp) mtime(t time.Time) time.Time {
	if op.epoch != nil && (t.IsZero() || t.After(*op.epoch)) {
		return op.epoch.UTC()
	}
	if t.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return t.Truncate(time.Second).UTC()
}

// withParents adds the missing parent directories of every entry (mode
// 0755, owned by the --chown user as BuildKit does), and sorts.
func (op *copyOp) withParents(items []copyItem) []copyItem {
	have := map[string]bool{}
	for _, it := range items {
		have[it.hdr.Name] = true
	}
	var extra []copyItem
	for _, it := range items {
		for dir := path.Dir(it.hdr.Name); dir != "." && dir != "/" && dir != ""; dir = path.Dir(dir) {
			if have[dir] {
				continue
			}
			have[dir] = true
			if op.exists != nil && op.exists("/"+dir) {
				continue
			}
			extra = append(extra, copyItem{hdr: op.header(dir, tar.TypeDir, 0o755, 0, time.Time{})})
		}
	}
	items = append(items, extra...)
	sort.SliceStable(items, func(i, j int) bool { return items[i].hdr.Name < items[j].hdr.Name })
	// A later entry of the same name (two sources) wins, as in a copy.
	out := items[:0]
	for i, it := range items {
		if i+1 < len(items) && items[i+1].hdr.Name == it.hdr.Name {
			continue
		}
		out = append(out, it)
	}
	return out
}

// contentHash is the checksum of what the copy writes: names, types,
// modes, owners, link targets and file contents, not modification times,
// so touching a file is still a cache hit (as in BuildKit).
func contentHash(items []copyItem) string {
	h := sha256.New()
	for _, it := range items {
		sum := sha256.Sum256(it.data)
		fmt.Fprintf(h, "%s\x00%c\x00%o\x00%d:%d\x00%s\x00%x\n", it.hdr.Name, it.hdr.Typeflag, it.hdr.Mode, it.hdr.Uid, it.hdr.Gid, it.hdr.Linkname, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// layerTar writes the items as an uncompressed layer.
func layerTar(items []copyItem) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, it := range items {
		h := it.hdr
		if h.Typeflag == tar.TypeDir {
			h.Name = strings.TrimSuffix(h.Name, "/") + "/"
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(it.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// openArchive opens a local file as a tar stream, uncompressing gzip and
// bzip2; ok is false when the file is not a tar archive.
func openArchive(file string) (tr *tar.Reader, closer io.Closer, ok bool) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, false
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(3)
	var r io.Reader = br
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, false
		}
		r = zr
	case len(magic) == 3 && string(magic) == "BZh":
		r = bzip2.NewReader(br)
	}
	return tar.NewReader(r), f, true
}

// isArchive reports whether ADD unpacks the file: it reads as a tar.
func isArchive(file string) bool {
	tr, c, ok := openArchive(file)
	if !ok {
		return false
	}
	defer c.Close()
	_, err := tr.Next()
	return err == nil
}

// unpackArchive lists a tar archive's entries under dest (ADD).
func (op *copyOp) unpackArchive(file, dest string) ([]copyItem, error) {
	tr, c, ok := openArchive(file)
	if !ok {
		return nil, fmt.Errorf("%s is not an archive", file)
	}
	defer c.Close()
	var items []copyItem
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return items, nil
		}
		if err != nil {
			return nil, fmt.Errorf("unpacking %s: %w", filepath.Base(file), err)
		}
		name := path.Join(dest, cleanRel(h.Name))
		if name == dest && h.Typeflag == tar.TypeDir {
			continue
		}
		hdr := tar.Header{Name: name, Typeflag: h.Typeflag, Mode: h.Mode, Uid: h.Uid, Gid: h.Gid,
			Linkname: h.Linkname, ModTime: op.mtime(h.ModTime), Format: tar.FormatPAX}
		var data []byte
		switch h.Typeflag {
		case tar.TypeReg:
			data, err = io.ReadAll(tr)
			if err != nil {
				return nil, err
			}
			hdr.Size = int64(len(data))
		case tar.TypeLink:
			hdr.Linkname = path.Join(dest, cleanRel(h.Linkname))
		case tar.TypeDir, tar.TypeSymlink:
		default:
			continue
		}
		items = append(items, copyItem{hdr: hdr, data: data})
	}
}

// parseChmod reads --chmod as octal, as Docker does.
func parseChmod(s string) (*fs.FileMode, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o7777 {
		return nil, fmt.Errorf("invalid chmod parameter: %q (only octal modes are supported)", s)
	}
	m := fs.FileMode(n)
	return &m, nil
}
