package imagebuild

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// cacheVersion changes when what a key covers changes, so old entries
// are never read with a new meaning.
const cacheVersion = "minik8s-imagebuild-v1"

// Cache is the layer cache on disk: keys/KEY.json names the result of a
// step, blobs/HEX.tar.gz holds the layer blobs by digest.
type Cache struct{ Dir string }

// TmpDir is where layers are written before they enter the cache: on
// the same file system, so that entering is a rename.
func (c *Cache) TmpDir() string {
	if c == nil || c.Dir == "" {
		return os.TempDir()
	}
	d := filepath.Join(c.Dir, "tmp")
	os.MkdirAll(d, 0o755)
	// What a build that crashed left behind.
	if entries, err := os.ReadDir(d); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTmp {
				os.Remove(filepath.Join(d, e.Name()))
			}
		}
	}
	return d
}

// staleTmp is the age past which a temporary layer belongs to no build.
const staleTmp = 24 * time.Hour

// DefaultCacheDir is ~/.minik8s/cache/imagebuild: outside the lab's state
// directory, so the cache outlives `ctl lab down`.
func DefaultCacheDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".minik8s", "cache", "imagebuild")
}

// cacheEntry is a step's recorded result; Empty is a step that changed
// nothing (no layer).
type cacheEntry struct {
	Empty     bool   `json:"empty,omitempty"`
	Digest    string `json:"digest,omitempty"`
	DiffID    string `json:"diffID,omitempty"`
	Size      int64  `json:"size,omitempty"`
	CreatedBy string `json:"createdBy,omitempty"`
}

// cacheKey hashes the parts of a step's key, each length-prefixed so that
// no two part lists give the same stream.
func cacheKey(parts ...string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", cacheVersion)
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\x00", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) keyPath(key string) string { return filepath.Join(c.Dir, "keys", key+".json") }
func (c *Cache) blobPath(d v1.Hash) string {
	return filepath.Join(c.Dir, "blobs", d.Hex+".tar.gz")
}

// Get returns the layer recorded under key (nil and empty=true for a step
// without changes); ok is false when there is no usable entry.
func (c *Cache) Get(key string) (layer v1.Layer, empty, ok bool) {
	if c == nil || c.Dir == "" {
		return nil, false, false
	}
	b, err := os.ReadFile(c.keyPath(key))
	if err != nil {
		return nil, false, false
	}
	var e cacheEntry
	if json.Unmarshal(b, &e) != nil {
		return nil, false, false
	}
	if e.Empty {
		return nil, true, true
	}
	d, err1 := v1.NewHash(e.Digest)
	diff, err2 := v1.NewHash(e.DiffID)
	if err1 != nil || err2 != nil {
		return nil, false, false
	}
	fi, err := os.Stat(c.blobPath(d))
	if err != nil || fi.Size() != e.Size {
		return nil, false, false
	}
	return &fileLayer{path: c.blobPath(d), digest: d, diffID: diff, size: e.Size, mediaType: types.DockerLayer}, false, true
}

// Put records layer (nil for a step without changes) under key and
// returns the layer as stored in the cache. Writes go to temporary files
// renamed into place, so a crash leaves no half entry.
func (c *Cache) Put(key string, layer v1.Layer, createdBy string) (v1.Layer, error) {
	if c == nil || c.Dir == "" {
		return layer, nil
	}
	e := cacheEntry{Empty: layer == nil, CreatedBy: createdBy}
	var out v1.Layer = layer
	if layer != nil {
		d, err := layer.Digest()
		if err != nil {
			return nil, err
		}
		diff, err := layer.DiffID()
		if err != nil {
			return nil, err
		}
		path := c.blobPath(d)
		size, err := c.storeBlob(path, layer)
		if err != nil {
			return nil, err
		}
		e.Digest, e.DiffID, e.Size = d.String(), diff.String(), size
		out = &fileLayer{path: path, digest: d, diffID: diff, size: size, mediaType: types.DockerLayer}
	}
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(c.keyPath(key), b); err != nil {
		return nil, err
	}
	return out, nil
}

// storeBlob writes the compressed layer to path unless it is there.
func (c *Cache) storeBlob(path string, layer v1.Layer) (int64, error) {
	if fi, err := os.Stat(path); err == nil {
		if want, err := layer.Size(); err == nil && want == fi.Size() {
			return fi.Size(), nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	if fl, ok := layer.(*fileLayer); ok && fl.owned {
		if err := os.Rename(fl.path, path); err == nil {
			return fl.size, nil
		}
	}
	rc, err := layer.Compressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".blob-*")
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(tmp, rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return 0, err
	}
	return n, nil
}

func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// errNotFound marks a missing COPY/ADD source, as BuildKit words it.
var errNotFound = errors.New("not found")
