package imagebuild

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/diff"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/rootfs"
	"github.com/containerd/errdefs"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// buildNamespace keeps the build's containers, snapshots and blobs
	// apart from the agents' (one containerd namespace per node).
	buildNamespace   = "minik8s-build"
	buildSnapshotter = "overlayfs"
	// buildLease bounds how long a crashed build's snapshots and blobs
	// stay before containerd's garbage collector takes them.
	buildLease = 2 * time.Hour
)

// ContainerdRunner runs RUN steps as containers on containerd: the image
// so far is unpacked into overlayfs snapshots (containerd's applier), the
// step runs in a container on a new active snapshot with a network
// namespace of its own that has only loopback, and the snapshot's changes
// become the layer (containerd's diff service, CreateDiff). Everything the
// build makes is held by one lease, dropped on Close, after which
// containerd collects it; the layers live on in the build cache.
type ContainerdRunner struct {
	client  *containerd.Client
	fifoDir string
	// LayerDir is where the layers of RUN steps are written (best on the
	// file system of the cache: Cache.TmpDir).
	LayerDir string

	mu    sync.Mutex
	lease *leases.Lease
}

// NewContainerdRunner connects to the containerd at address.
func NewContainerdRunner(address string) (*ContainerdRunner, error) {
	if _, err := os.Stat(address); err != nil {
		return nil, fmt.Errorf("no containerd socket at %s (is the lab up? `ctl lab up`): %w", address, err)
	}
	c, err := containerd.New(address, containerd.WithDefaultNamespace(buildNamespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("connecting to containerd at %s: %w", address, err)
	}
	return &ContainerdRunner{client: c, fifoDir: filepath.Join(os.TempDir(), "minik8s-build-fifo"), LayerDir: os.TempDir()}, nil
}

// Close drops the build's lease and the connection.
func (r *ContainerdRunner) Close() error {
	r.mu.Lock()
	l := r.lease
	r.lease = nil
	r.mu.Unlock()
	if l != nil {
		ctx := namespaces.WithNamespace(context.Background(), buildNamespace)
		_ = r.client.LeasesService().Delete(ctx, *l)
	}
	return r.client.Close()
}

// withLease puts the build's lease (made on first use) on ctx.
func (r *ContainerdRunner) withLease(ctx context.Context) (context.Context, error) {
	ctx = namespaces.WithNamespace(ctx, buildNamespace)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lease == nil {
		l, err := r.client.LeasesService().Create(ctx, leases.WithRandomID(), leases.WithExpiration(buildLease))
		if err != nil {
			return nil, fmt.Errorf("creating a containerd lease: %w", err)
		}
		r.lease = &l
	}
	return leases.WithLease(ctx, r.lease.ID), nil
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// mountStubs are the paths runc creates in the root for the default
// spec's mounts; created by the run, not by the command, they are removed
// before the diff as BuildKit does.
var mountStubs = []string{"proc", "sys", "dev/pts", "dev/shm", "dev/mqueue", "dev", "run"}

// Run implements Runner.
func (r *ContainerdRunner) Run(ctx context.Context, spec RunSpec) (v1.Layer, error) {
	ctx, err := r.withLease(ctx)
	if err != nil {
		return nil, err
	}
	sn := r.client.SnapshotService(buildSnapshotter)
	chain, diffIDs, err := r.unpack(ctx, spec.Layers)
	if err != nil {
		return nil, err
	}
	key := "minik8s-build-" + randomID()
	mounts, err := sn.Prepare(ctx, key, chain)
	if err != nil {
		return nil, fmt.Errorf("preparing the step's snapshot: %w", err)
	}
	keep := false
	defer func() {
		if !keep {
			sn.Remove(context.WithoutCancel(ctx), key)
		}
	}()
	var stubs []string
	if err := mount.WithTempMount(ctx, mounts, func(root string) error {
		for _, p := range mountStubs {
			if _, err := os.Lstat(filepath.Join(root, p)); errors.Is(err, os.ErrNotExist) {
				stubs = append(stubs, p)
			}
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("mounting the step's root: %w", err)
	}
	code, err := r.exec(ctx, key, spec)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, &ExitError{Args: spec.Args, Code: code}
	}
	if len(stubs) > 0 {
		if err := mount.WithTempMount(ctx, mounts, func(root string) error {
			for _, p := range stubs {
				// Only an empty stub goes: a command may have made it.
				os.Remove(filepath.Join(root, p))
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("mounting the step's root: %w", err)
		}
	}
	var layer v1.Layer
	var diffID v1.Hash
	viaDiffService := true
	if upper, ok := upperDir(mounts); ok {
		l, err := writeUpperLayer(upper, filepath.Join(r.LayerDir, "layer-"+randomID()+".tar.gz"), spec.Epoch)
		switch {
		case errors.Is(err, errIndirectOverlay):
		case err != nil || l == nil:
			return nil, err
		default:
			layer, viaDiffService = l, false
			diffID, _ = l.DiffID()
		}
	}
	if viaDiffService {
		if layer, diffID, err = r.diffService(ctx, key, spec); err != nil || layer == nil {
			return nil, err
		}
	}
	// The next RUN starts from this snapshot instead of unpacking again.
	next := identity.ChainID(append(diffIDs, digest.Digest(diffID.String()))).String()
	if err := sn.Commit(ctx, next, key); err == nil {
		keep = true
	} else if !errdefs.IsAlreadyExists(err) {
		return nil, fmt.Errorf("committing the step's snapshot: %w", err)
	}
	return layer, nil
}

// diffService computes the step's layer with containerd's diff service:
// for snapshotters whose mounts are not an overlay.
func (r *ContainerdRunner) diffService(ctx context.Context, key string, spec RunSpec) (v1.Layer, v1.Hash, error) {
	sn := r.client.SnapshotService(buildSnapshotter)
	opts := []diff.Opt{diff.WithMediaType(ocispec.MediaTypeImageLayerGzip), diff.WithReference("minik8s-build-diff-" + randomID())}
	if spec.Epoch != nil {
		opts = append(opts, diff.WithSourceDateEpoch(spec.Epoch))
	}
	desc, err := rootfs.CreateDiff(ctx, key, sn, r.client.DiffService(), opts...)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("computing the step's changes: %w", err)
	}
	info, err := r.client.ContentStore().Info(ctx, desc.Digest)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	diffID, err := v1.NewHash(info.Labels["containerd.io/uncompressed"])
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("the diff service gave no uncompressed digest: %w", err)
	}
	if diffID.String() == emptyTarDiffID {
		return nil, v1.Hash{}, nil
	}
	d, err := v1.NewHash(desc.Digest.String())
	if err != nil {
		return nil, v1.Hash{}, err
	}
	return &contentLayer{cs: r.client.ContentStore(), ctx: ctx, desc: desc, digest: d, diffID: diffID}, diffID, nil
}

// unpack makes sure the layers are blobs in containerd's content store
// and unpacked as a snapshot chain; it returns the chain's name.
func (r *ContainerdRunner) unpack(ctx context.Context, layers []v1.Layer) (string, []digest.Digest, error) {
	cs := r.client.ContentStore()
	var rl []rootfs.Layer
	var diffIDs []digest.Digest
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return "", nil, err
		}
		diffID, err := l.DiffID()
		if err != nil {
			return "", nil, err
		}
		size, err := l.Size()
		if err != nil {
			return "", nil, err
		}
		mt, err := l.MediaType()
		if err != nil {
			return "", nil, err
		}
		blob := ocispec.Descriptor{MediaType: string(mt), Digest: digest.Digest(d.String()), Size: size}
		if mt == types.DockerUncompressedLayer || mt == types.OCIUncompressedLayer {
			blob.MediaType = ocispec.MediaTypeImageLayer
		}
		rl = append(rl, rootfs.Layer{Blob: blob, Diff: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.Digest(diffID.String())}})
		diffIDs = append(diffIDs, digest.Digest(diffID.String()))
	}
	// Blobs are written only for the snapshots that are missing.
	sn := r.client.SnapshotService(buildSnapshotter)
	for i := range rl {
		chain := identity.ChainID(diffIDs[:i+1]).String()
		if _, err := sn.Stat(ctx, chain); err == nil {
			continue
		}
		if _, err := cs.Info(ctx, rl[i].Blob.Digest); err == nil {
			continue
		}
		rc, err := layers[i].Compressed()
		if err != nil {
			return "", nil, fmt.Errorf("reading layer %s: %w", rl[i].Blob.Digest, err)
		}
		err = content.WriteBlob(ctx, cs, "minik8s-build-"+rl[i].Blob.Digest.String(), rc, rl[i].Blob)
		rc.Close()
		if err != nil && !errdefs.IsAlreadyExists(err) {
			return "", nil, fmt.Errorf("storing layer %s in containerd: %w", rl[i].Blob.Digest, err)
		}
	}
	if len(rl) == 0 {
		return "", nil, nil
	}
	chain, err := rootfs.ApplyLayers(ctx, rl, sn, r.client.DiffService())
	if err != nil {
		return "", nil, fmt.Errorf("unpacking the image so far: %w", err)
	}
	return chain.String(), diffIDs, nil
}

// exec runs the step's process in a container on the snapshot and
// returns its exit code.
func (r *ContainerdRunner) exec(ctx context.Context, snapshot string, spec RunSpec) (int, error) {
	id := "minik8s-build-" + randomID()
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(spec.Args...),
		func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Process.Env = append([]string(nil), spec.Env...)
			return nil
		},
		oci.WithProcessCwd(spec.Cwd),
		oci.WithHostname("buildkitsandbox"),
	}
	if spec.User != "" {
		opts = append(opts, oci.WithUser(spec.User))
	}
	c, err := r.client.NewContainer(ctx, id,
		containerd.WithSnapshotter(buildSnapshotter),
		containerd.WithSnapshot(snapshot),
		containerd.WithRuntime("io.containerd.runc.v2", nil),
		containerd.WithNewSpec(opts...),
	)
	if err != nil {
		return 0, fmt.Errorf("creating the step's container: %w", err)
	}
	defer c.Delete(context.WithoutCancel(ctx))
	if err := os.MkdirAll(r.fifoDir, 0o700); err != nil {
		return 0, err
	}
	var out io.Writer = io.Discard
	if spec.Output != nil {
		out = spec.Output
	}
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(r.fifoDir)))
	if err != nil {
		return 0, fmt.Errorf("creating the step's task: %w", err)
	}
	defer task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill)
	statusC, err := task.Wait(ctx)
	if err != nil {
		return 0, err
	}
	if err := task.Start(ctx); err != nil {
		return 0, fmt.Errorf("starting the step: %w", err)
	}
	select {
	case st := <-statusC:
		code, _, err := st.Result()
		if err != nil {
			return 0, err
		}
		// Wait for the output to be copied before the caller reads it.
		task.Delete(context.WithoutCancel(ctx))
		return int(code), nil
	case <-ctx.Done():
		task.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return 0, ctx.Err()
	}
}

// contentLayer is a layer blob in containerd's content store. It holds a
// context because v1.Layer's methods take none: the build's namespace and
// lease, under which the blob lives until the cache has copied it.
type contentLayer struct {
	cs             content.Store
	ctx            context.Context
	desc           ocispec.Descriptor
	digest, diffID v1.Hash
}

func (l *contentLayer) Digest() (v1.Hash, error)            { return l.digest, nil }
func (l *contentLayer) DiffID() (v1.Hash, error)            { return l.diffID, nil }
func (l *contentLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *contentLayer) MediaType() (types.MediaType, error) { return types.DockerLayer, nil }
func (l *contentLayer) Compressed() (io.ReadCloser, error) {
	ra, err := l.cs.ReaderAt(l.ctx, l.desc)
	if err != nil {
		return nil, err
	}
	return &readCloser{Reader: content.NewReader(ra), close: ra.Close}, nil
}
func (l *contentLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &readCloser{Reader: zr, close: rc.Close}, nil
}
