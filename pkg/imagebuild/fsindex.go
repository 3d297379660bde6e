package imagebuild

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fsIndex is the file tree of an image built so far, read from its layers
// (with overlay whiteouts applied): COPY needs to know whether its
// destination is a directory, WORKDIR whether its directory exists, and
// --chown the users and groups of /etc/passwd and /etc/group.
type fsIndex struct {
	entries map[string]*tar.Header // by clean path without leading "/"
	files   map[string][]byte      // contents of etc/passwd and etc/group
	applied int                    // how many layers of the image are in
}

func newFSIndex() *fsIndex {
	return &fsIndex{entries: map[string]*tar.Header{}, files: map[string][]byte{}}
}

// idFiles are the files whose contents the index keeps.
var idFiles = map[string]bool{"etc/passwd": true, "etc/group": true}

// update reads the layers not yet in the index.
func (ix *fsIndex) update(layers []v1.Layer) error {
	for ; ix.applied < len(layers); ix.applied++ {
		if err := ix.apply(layers[ix.applied]); err != nil {
			return err
		}
	}
	return nil
}

func (ix *fsIndex) apply(l v1.Layer) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	return ix.applyTar(rc)
}

func (ix *fsIndex) applyTar(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading a layer: %w", err)
		}
		name := cleanRel(h.Name)
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == ".wh..wh..opq":
			ix.removeChildren(dir)
			continue
		case strings.HasPrefix(base, ".wh."):
			victim := path.Join(dir, strings.TrimPrefix(base, ".wh."))
			delete(ix.entries, victim)
			delete(ix.files, victim)
			ix.removeChildren(victim)
			continue
		}
		if name == "" {
			continue
		}
		if old, ok := ix.entries[name]; ok && old.Typeflag == tar.TypeDir && h.Typeflag != tar.TypeDir {
			ix.removeChildren(name)
		}
		hc := *h
		hc.Name = name
		ix.entries[name] = &hc
		if idFiles[name] && h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			b, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			ix.files[name] = b
		}
	}
}

func (ix *fsIndex) removeChildren(dir string) {
	prefix := dir + "/"
	if dir == "" {
		prefix = ""
	}
	for k := range ix.entries {
		if strings.HasPrefix(k, prefix) && k != dir {
			delete(ix.entries, k)
			delete(ix.files, k)
		}
	}
}

// lookup follows symlinks in p (absolute inside the image) and returns
// the entry it names, if any.
func (ix *fsIndex) lookup(p string) (*tar.Header, bool) {
	for hops := 0; hops < 40; hops++ {
		name := cleanRel(p)
		if name == "" {
			return &tar.Header{Name: "", Typeflag: tar.TypeDir, Mode: 0o755}, true
		}
		// Resolve symlinks in the parents first.
		parts := strings.Split(name, "/")
		resolved := ""
		restart := false
		for i, part := range parts {
			cur := path.Join(resolved, part)
			h, ok := ix.entries[cur]
			if !ok {
				return nil, false
			}
			if h.Typeflag == tar.TypeSymlink {
				target := h.Linkname
				if !path.IsAbs(target) {
					target = path.Join("/", resolved, target)
				}
				p = path.Join(append([]string{target}, parts[i+1:]...)...)
				restart = true
				break
			}
			resolved = cur
			if i == len(parts)-1 {
				return h, true
			}
		}
		if !restart {
			return nil, false
		}
	}
	return nil, false
}

// isDir reports whether p is a directory in the image.
func (ix *fsIndex) isDir(p string) bool {
	h, ok := ix.lookup(p)
	return ok && h.Typeflag == tar.TypeDir
}

// resolveUser turns a --chown or USER value (user, user:group, uid:gid)
// into numeric ids, with the image's /etc/passwd and /etc/group.
func (ix *fsIndex) resolveUser(spec string) (uid, gid int, err error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	uid, pwGID, err := ix.lookupID("etc/passwd", user)
	if err != nil {
		return 0, 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: %w", err)
	}
	gid = pwGID
	if hasGroup {
		gid, _, err = ix.lookupID("etc/group", group)
		if err != nil {
			return 0, 0, fmt.Errorf("unable to convert uid/gid chown string to host mapping: %w", err)
		}
	}
	return uid, gid, nil
}

// lookupID finds name (or a number) in a passwd or group file; for a
// passwd entry it also returns the user's primary group.
func (ix *fsIndex) lookupID(file, name string) (id, primaryGID int, err error) {
	if n, err := strconv.Atoi(name); err == nil {
		// A numeric --chown user without a group and without a passwd
		// entry gets its uid as gid, as Docker documents for COPY.
		primaryGID = n
		for _, line := range strings.Split(string(ix.files[file]), "\n") {
			f := strings.Split(line, ":")
			if file == "etc/passwd" && len(f) >= 4 && f[2] == name {
				if g, err := strconv.Atoi(f[3]); err == nil {
					primaryGID = g
				}
			}
		}
		return n, primaryGID, nil
	}
	for _, line := range strings.Split(string(ix.files[file]), "\n") {
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] != name {
			continue
		}
		id, err := strconv.Atoi(f[2])
		if err != nil {
			return 0, 0, fmt.Errorf("bad id %q for %s in /%s", f[2], name, file)
		}
		primaryGID = id
		if file == "etc/passwd" && len(f) >= 4 {
			if g, err := strconv.Atoi(f[3]); err == nil {
				primaryGID = g
			}
		}
		return id, primaryGID, nil
	}
	kind := "user"
	if file == "etc/group" {
		kind = "group"
	}
	return 0, 0, fmt.Errorf("no such %s %q in /%s of the image", kind, name, file)
}

// cleanRel is p cleaned, relative to the image root.
func cleanRel(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}
