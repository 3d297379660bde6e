package lab

import (
	"context"
	"fmt"
	"os"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func loadOCILayout(ctx context.Context, registry, file, rename string) ([]string, error) {
	dir, err := os.MkdirTemp("", "minik8s-oci-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := extractTar(file, dir); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", file, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the OCI layout in %s: %w", file, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if rename != "" && len(im.Manifests) > 1 {
		return nil, fmt.Errorf("%s holds %d images: --name works only for one", file, len(im.Manifests))
	}
	var pushed []string
	for i, d := range im.Manifests {
		ref := rename
		if ref == "" {
			ref = ociRefName(d.Annotations)
		}
		if ref == "" {
			return pushed, fmt.Errorf("image %d of %s has no full name (annotation %q): give it one with --name REPO:TAG", i+1, file, ref)
		}
		dst, err := retarget(registry, ref)
		if err != nil {
			return pushed, err
		}
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return pushed, err
			}
			err = remote.WriteIndex(dst, child, remote.WithContext(ctx))
			if err != nil {
				return pushed, pushError(dst.String(), err)
			}
		} else {
			img, err := idx.Image(d.Digest)
			if err != nil {
				return pushed, err
			}
			if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
				return pushed, pushError(dst.String(), err)
			}
		}
		pushed = append(pushed, dst.String())
	}
	return pushed, nil
}
