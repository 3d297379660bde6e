package kubelet

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/remotes"
	"github.com/containerd/containerd/remotes/docker"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/klog/v2"
)

// imageService pulls through containerd with mirrors and plain-HTTP
// registries.
type imageService struct {
	client   *containerd.Client
	mirrors  map[string]string // registry host → mirror URL
	insecure []string          // HOST:PORT spoken to in plain HTTP

	httpOnce sync.Once
	http     *http.Client // shared so that registry connections are reused

	resolveMu sync.Mutex
	resolving map[string]*resolveCall // in-flight digest look-ups by name
}

// resolveCall is one digest look-up that concurrent starts share.
type resolveCall struct {
	done   chan struct{}
	digest digest.Digest
	err    error
}

func newImageService(client *containerd.Client, mirrors map[string]string, insecure []string) *imageService {
	return &imageService{client: client, mirrors: mirrors, insecure: insecure, resolving: map[string]*resolveCall{}}
}

func (s *imageService) httpClient() *http.Client {
	s.httpOnce.Do(func() {
		s.http = &http.Client{Transport: &http.Transport{Proxy: nil, ResponseHeaderTimeout: 30 * time.Second,
			IdleConnTimeout: 30 * time.Second, MaxIdleConnsPerHost: 8}}
	})
	return s.http
}

// hosts maps a registry host to where it is pulled from.
func (s *imageService) hosts(host string) ([]docker.RegistryHost, error) {
	httpClient := s.httpClient()
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

// pull brings ref up to date with its registry. When the digest the
// registry resolves (one HEAD request, shared by concurrent callers) is the
// one already unpacked here, nothing is fetched: pull policy Always on a
// warm image costs one round trip.
func (s *imageService) pull(ctx context.Context, ref string) (string, error) {
	logger := klog.FromContext(ctx).WithValues("image", ref)
	name := normalizeRef(ref)
	start := time.Now()
	if id, ok := s.upToDate(ctx, name); ok {
		logger.V(2).Info("image up to date", "took", time.Since(start).Round(time.Millisecond))
		return id, nil
	}
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

// upToDate reports whether name is present, unpacked, and at the digest the
// registry resolves now.
func (s *imageService) upToDate(ctx context.Context, name string) (string, bool) {
	img, err := s.client.GetImage(ctx, name)
	if err != nil {
		return "", false
	}
	d, err := s.resolveDigest(ctx, name)
	if err != nil {
		klog.FromContext(ctx).V(2).Info("resolving image digest", "image", name, "err", err)
		return "", false
	}
	if d != img.Target().Digest {
		return "", false
	}
	if ok, err := img.IsUnpacked(ctx, snapshotter); err != nil || !ok {
		return "", false
	}
	return s.imageID(ctx, img), true
}

// resolveDigest asks the registry for name's current manifest digest; calls
// for the same name while one is in flight share its answer.
func (s *imageService) resolveDigest(ctx context.Context, name string) (digest.Digest, error) {
	s.resolveMu.Lock()
	if c, ok := s.resolving[name]; ok {
		s.resolveMu.Unlock()
		select {
		case <-c.done:
			return c.digest, c.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	c := &resolveCall{done: make(chan struct{})}
	s.resolving[name] = c
	s.resolveMu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	_, desc, err := s.resolver().Resolve(rctx, name)
	cancel()
	c.digest, c.err = desc.Digest, err

	s.resolveMu.Lock()
	delete(s.resolving, name)
	s.resolveMu.Unlock()
	close(c.done)
	return c.digest, c.err
}
