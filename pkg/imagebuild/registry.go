package imagebuild

import (
	"context"
	"fmt"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// LabRef maps an image name to the lab registry the way the agents'
// docker.io mirror does, so that what a pod names is what was pushed:
// hello:v1 → REGISTRY/library/hello:v1, minik8s/toolbox →
// REGISTRY/minik8s/toolbox:latest; a name with another registry keeps
// that host as its first path element. A name already in the lab registry
// stays as it is.
func LabRef(registry, ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return nil, fmt.Errorf("image name %q: %w", ref, err)
	}
	if r.Context().RegistryStr() == registry {
		return r, nil
	}
	repo := r.Context().RepositoryStr()
	if reg := r.Context().RegistryStr(); reg != name.DefaultRegistry && reg != "index.docker.io" {
		repo = reg + "/" + repo
	}
	switch t := r.(type) {
	case name.Digest:
		return name.NewDigest(registry+"/"+repo+"@"+t.DigestStr(), name.Insecure)
	case name.Tag:
		return name.NewTag(registry+"/"+repo+":"+t.TagStr(), name.Insecure)
	}
	return nil, fmt.Errorf("image name %q: neither a tag nor a digest", ref)
}

// Platform is the platform builds run on.
func Platform() v1.Platform { return v1.Platform{OS: "linux", Architecture: runtime.GOARCH} }

// RegistryResolver fetches FROM images from the lab registry (plain
// HTTP); it returns the image and its name with digest.
func RegistryResolver(registry string) func(context.Context, string) (v1.Image, string, error) {
	return func(ctx context.Context, ref string) (v1.Image, string, error) {
		r, err := LabRef(registry, ref)
		if err != nil {
			return nil, "", err
		}
		img, err := remote.Image(r, remote.WithContext(ctx), remote.WithPlatform(Platform()))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w (base images come from the lab registry: `ctl image ls`, `ctl image load`, `ctl image pull`)", r, err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, "", err
		}
		return img, r.Context().String() + "@" + d.String(), nil
	}
}
