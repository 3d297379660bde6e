package kubelet

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/klog/v2"
)

// imageService pulls through containerd with mirrors and plain-HTTP
// registries.
type imageService struct {
	client   *containerd.Client
	mirrors  map[string]string // registry host → mirror URL
	insecure []string          // HOST:PORT spoken to in plain HTTP
}

// hosts maps a registry host to where it is pulled from.
func (s *imageService) hosts(host string) ([]docker.RegistryHost, error) {
	httpClient := &http.Client{Timeout: 0, Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: 30 * time.Second, IdleConnTimeout: 30 * time.Second}}
	if m, ok := s.mirrors[host]; ok {
		u, err := url.Parse(m)
		if err != nil {
			return nil, err
		}
		path := strings.TrimSuffix(u.Path, "/")
		if path == "" {
			path = "/v2"
		}
		return []docker.RegistryHost{{
			Client: httpClient, Host: u.Host, Scheme: u.Scheme, Path: path,
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve,
		}}, nil
	}
	return docker.ConfigureDefaultRegistries(
		docker.WithClient(httpClient),
		docker.WithPlainHTTP(func(h string) (bool, error) { return slices.Contains(s.insecure, h), nil }),
	)(host)
}

func (s *imageService) resolver() remotes.Resolver {
	return docker.NewResolver(docker.ResolverOptions{Hosts: s.hosts})
}

func (s *imageService) present(ctx context.Context, ref string) (string, bool, error) {
	img, err := s.client.GetImage(ctx, normalizeRef(ref))
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", false, nil
		}
		return "", false, err
	}
	ok, err := img.IsUnpacked(ctx, snapshotter)
	if err != nil {
		return "", false, err
	}
	if !ok {
		if err := img.Unpack(ctx, snapshotter); err != nil {
			return "", false, fmt.Errorf("unpacking %s: %w", ref, err)
		}
	}
	return s.imageID(ctx, img), true, nil
}

func (s *imageService) pull(ctx context.Context, ref string) (string, error) {
	logger := klog.FromContext(ctx).WithValues("image", ref)
	name := normalizeRef(ref)
	start := time.Now()
	progress := images.HandlerFunc(func(ctx context.Context, desc ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		logger.V(1).Info("fetching", "mediaType", desc.MediaType, "digest", desc.Digest, "size", desc.Size)
		return nil, nil
	})
	img, err := s.client.Pull(ctx, name,
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(snapshotter),
		containerd.WithResolver(s.resolver()),
		containerd.WithImageHandler(progress),
	)
	if err != nil {
		return "", err
	}
	size, _ := img.Size(ctx)
	logger.Info("pulled image", "digest", img.Target().Digest, "bytes", size, "took", time.Since(start).Round(time.Millisecond))
	return s.imageID(ctx, img), nil
}

// imageID is repository@digest, as Kubernetes reports it.
func (s *imageService) imageID(ctx context.Context, img containerd.Image) string {
	name := img.Name()
	if named, err := reference.ParseNormalizedNamed(name); err == nil {
		name = named.Name()
	}
	return name + "@" + img.Target().Digest.String()
}
