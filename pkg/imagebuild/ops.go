package imagebuild

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Inspection is what `ctl image inspect` prints for one image.
type Inspection struct {
	Name      string        `json:"name"`
	Digest    string        `json:"digest"`
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"` // compressed layers + config
	Layers    []LayerInfo   `json:"layers"`
	Config    v1.ConfigFile `json:"config"`
}

// LayerInfo is one layer of an image.
type LayerInfo struct {
	Digest    string `json:"digest"`
	DiffID    string `json:"diffID"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
}

// Inspect describes an image.
func Inspect(img v1.Image, ref string) (*Inspection, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	out := &Inspection{Name: ref, Digest: d.String(), MediaType: string(mt), Config: *cf, Size: m.Config.Size}
	for i, l := range m.Layers {
		li := LayerInfo{Digest: l.Digest.String(), Size: l.Size, MediaType: string(l.MediaType)}
		if i < len(cf.RootFS.DiffIDs) {
			li.DiffID = cf.RootFS.DiffIDs[i].String()
		}
		out.Size += l.Size
		out.Layers = append(out.Layers, li)
	}
	return out, nil
}

// HistoryEntry is one row of `ctl image history`, newest first.
type HistoryEntry struct {
	Created   v1.Time
	CreatedBy string
	Size      int64 // compressed size of the entry's layer; 0 for none
	Comment   string
	Layer     string // the layer's digest, "" for an empty entry
}

// History pairs an image's history with its layers, as `docker history`
// does: each entry that is not empty_layer owns the next layer.
func History(img v1.Image) ([]HistoryEntry, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	var out []HistoryEntry
	li := 0
	for _, h := range cf.History {
		e := HistoryEntry{Created: h.Created, CreatedBy: h.CreatedBy, Comment: h.Comment}
		if !h.EmptyLayer && li < len(m.Layers) {
			e.Size = m.Layers[li].Size
			e.Layer = m.Layers[li].Digest.String()
			li++
		}
		out = append(out, e)
	}
	for ; li < len(m.Layers); li++ {
		out = append(out, HistoryEntry{Size: m.Layers[li].Size, Layer: m.Layers[li].Digest.String()})
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// WriteDockerArchive writes images as a docker-archive tarball (what
// `docker save` writes and `ctl image load` reads), each under its tag.
func WriteDockerArchive(file string, images map[name.Tag]v1.Image) error {
	refs := map[name.Reference]v1.Image{}
	for t, img := range images {
		refs[t] = img
	}
	return tarball.MultiRefWriteToFile(file, refs)
}

// WriteOCIArchive writes images as an OCI layout tarball, each with its
// name in the org.opencontainers.image.ref.name and
// io.containerd.image.name annotations (what `ctl image load` reads).
func WriteOCIArchive(file string, images map[string]v1.Image) error {
	dir, err := os.MkdirTemp("", "minik8s-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for ref, img := range images {
		tag := ref
		if t, err := name.NewTag(ref); err == nil {
			tag = t.TagStr()
		}
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": tag,
			"io.containerd.image.name":          ref,
		})); err != nil {
			return err
		}
	}
	return tarDir(dir, file)
}

// tarDir writes the files under dir into a tar at file.
func tarDir(dir, file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, src)
			src.Close()
			return err
		}
		return nil
	})
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Copy copies an image or an index between registries, as `crane copy`
// does; it returns the digest.
func Copy(ctx context.Context, src, dst name.Reference, srcOpts, dstOpts []remote.Option) (string, error) {
	desc, err := remote.Get(src, append([]remote.Option{remote.WithContext(ctx)}, srcOpts...)...)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", src, err)
	}
	dstOpts = append([]remote.Option{remote.WithContext(ctx)}, dstOpts...)
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return "", err
		}
		if err := remote.WriteIndex(dst, idx, dstOpts...); err != nil {
			return "", fmt.Errorf("pushing %s: %w", dst, err)
		}
	} else {
		img, err := desc.Image()
		if err != nil {
			return "", err
		}
		if err := remote.Write(dst, img, dstOpts...); err != nil {
			return "", fmt.Errorf("pushing %s: %w", dst, err)
		}
	}
	return desc.Digest.String(), nil
}

// SameDigestTags lists the other tags of ref's repository that name the
// same manifest as ref.
func SameDigestTags(ctx context.Context, ref name.Reference) ([]string, error) {
	desc, err := remote.Head(ref, remote.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	tags, err := remote.List(ref.Context(), remote.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range tags {
		if t == ref.Identifier() {
			continue
		}
		if d, err := remote.Head(ref.Context().Tag(t), remote.WithContext(ctx)); err == nil && d.Digest == desc.Digest {
			out = append(out, t)
		}
	}
	return out, nil
}

// RemoveDigest deletes a manifest from the registry. The registry API
// deletes by digest: every tag of that digest goes with it.
func RemoveDigest(ctx context.Context, d name.Digest) error {
	if err := remote.Delete(d, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("deleting %s: %w", d, err)
	}
	return nil
}

// GarbageCollect runs the registry's garbage collector on its config, so
// the blobs no manifest references any more are deleted from disk.
func GarbageCollect(ctx context.Context, registryBin, config string) (string, error) {
	if _, err := os.Stat(config); err != nil {
		return "", fmt.Errorf("the lab registry's config %s: %w", config, err)
	}
	out, err := exec.CommandContext(ctx, registryBin, "garbage-collect", "--delete-untagged", config).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s garbage-collect: %w: %s", registryBin, err, lastLines(string(out), 5))
	}
	return string(out), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// MarshalInspection prints inspections as indented JSON.
func MarshalInspection(w io.Writer, in []*Inspection) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(in)
}
