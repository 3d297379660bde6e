package lab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Greetings of the echo image's tags: v2 differs so a rollout shows.
const (
	greetingV1 = "hello from minik8s/echo v1"
	greetingV2 = "hello from minik8s/echo v2"
)

// imageEpoch is the timestamp of every file and config, so the same
// binaries always give the same digests.
var imageEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// tarEntry is one file of a layer: a regular file or a symlink.
type tarEntry struct {
	Name     string
	Mode     int64
	Data     []byte
	Linkname string
	Dir      bool
}

// layerTar writes entries as a tar stream, directories first as given.
func layerTar(entries []tarEntry) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, ModTime: imageEpoch, Format: tar.FormatPAX}
		switch {
		case e.Dir:
			h.Typeflag = tar.TypeDir
			h.Name = strings.TrimSuffix(e.Name, "/") + "/"
		case e.Linkname != "":
			h.Typeflag = tar.TypeSymlink
			h.Linkname = e.Linkname
		default:
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.Data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// imageFromLayer builds a one-layer image with the given config.
func imageFromLayer(tarBytes []byte, cfg v1.Config) (v1.Image, error) {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tarBytes)), nil
	}, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = runtime.GOARCH
	cf.OS = "linux"
	cf.Created = v1.Time{Time: imageEpoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// echoLayer holds the echo server at /echo and an empty /tmp.
func echoLayer(binary []byte) ([]byte, error) {
	return layerTar([]tarEntry{
		{Name: "tmp", Mode: 0o1777, Dir: true},
		{Name: "echo", Mode: 0o755, Data: binary},
	})
}

// echoImages returns the echo image's tags: latest and v1 share one
// image; v2 differs by its default GREETING.
func echoImages(binary []byte) (map[string]v1.Image, error) {
	layer, err := echoLayer(binary)
	if err != nil {
		return nil, err
	}
	cfg := func(greeting string) v1.Config {
		return v1.Config{
			Entrypoint:   []string{"/echo"},
			Env:          []string{"PATH=/", "GREETING=" + greeting},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "8080/udp": {}},
		}
	}
	v1img, err := imageFromLayer(layer, cfg(greetingV1))
	if err != nil {
		return nil, err
	}
	v2img, err := imageFromLayer(layer, cfg(greetingV2))
	if err != nil {
		return nil, err
	}
	return map[string]v1.Image{"latest": v1img, "v1": v1img, "v2": v2img}, nil
}

// busyboxApplets asks the busybox binary which applets it has.
func busyboxApplets(path string) ([]string, error) {
	out, err := exec.Command(path, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("listing the applets of %s: %w", path, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" && !strings.Contains(a, "/") {
			applets = append(applets, a)
		}
	}
	sort.Strings(applets)
	return applets, nil
}

// toolboxApplets are the tools cmd/toolbox provides in the toolbox image
// in place of, or besides, busybox's: Debian builds busybox without
// FEATURE_WGET_TIMEOUT, and its wget then crashes on -T; busybox has no
// curl (see cmd/toolbox). cmd/toolbox's nc stays out: the image keeps
// busybox's.
var toolboxApplets = []string{"curl", "wget"}

// sharedLibraries lists the files a dynamically linked program loads, its
// dynamic loader included, as the host's ldd resolves them; none for a
// static one. The toolbox image carries them at the same paths, so its
// busybox finds them as on the host.
func sharedLibraries(path string) ([]string, error) {
	out, err := exec.Command("ldd", path).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %v: %s", path, err, bytes.TrimSpace(out))
	}
	var libs []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[1] == "=>" && f[2] == "not":
			return nil, fmt.Errorf("%s needs %s, which is not installed", path, f[0])
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0]) // the dynamic loader
		}
	}
	sort.Strings(libs)
	return libs, nil
}

// toolboxLayer holds /bin/busybox with a symlink per applet and the
// shared libraries it loads (path: content), and /bin/toolbox with a
// symlink per applet of its own, which wins.
func toolboxLayer(busybox, toolbox []byte, libs map[string][]byte, applets []string) ([]byte, error) {
	entries := []tarEntry{
		{Name: "bin", Mode: 0o755, Dir: true},
		{Name: "etc", Mode: 0o755, Dir: true},
		{Name: "tmp", Mode: 0o1777, Dir: true},
	}
	dirs := map[string]bool{"bin": true}
	paths := make([]string, 0, len(libs))
	for p := range libs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel := strings.TrimPrefix(filepath.Clean(p), "/")
		var parents []tarEntry
		for d := filepath.Dir(rel); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			parents = append([]tarEntry{{Name: d, Mode: 0o755, Dir: true}}, parents...)
		}
		entries = append(entries, parents...)
		entries = append(entries, tarEntry{Name: rel, Mode: 0o755, Data: libs[p]})
	}
	entries = append(entries,
		tarEntry{Name: "bin/busybox", Mode: 0o755, Data: busybox},
		tarEntry{Name: "bin/toolbox", Mode: 0o755, Data: toolbox})
	for _, a := range applets {
		if !slices.Contains(toolboxApplets, a) {
			entries = append(entries, tarEntry{Name: "bin/" + a, Mode: 0o777, Linkname: "busybox"})
		}
	}
	for _, a := range toolboxApplets {
		entries = append(entries, tarEntry{Name: "bin/" + a, Mode: 0o777, Linkname: "toolbox"})
	}
	return layerTar(entries)
}

func toolboxImage(busybox, toolbox string) (v1.Image, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w; %s", busybox, err, busyboxFix)
	}
	tb, err := os.ReadFile(toolbox)
	if err != nil {
		return nil, fmt.Errorf("reading the toolbox binary %s: %w", toolbox, err)
	}
	paths, err := sharedLibraries(busybox)
	if err != nil {
		return nil, err
	}
	libs := map[string][]byte{}
	for _, p := range paths {
		if libs[p], err = os.ReadFile(p); err != nil {
			return nil, err
		}
	}
	applets, err := busyboxApplets(busybox)
	if err != nil {
		return nil, err
	}
	layer, err := toolboxLayer(bb, tb, libs, applets)
	if err != nil {
		return nil, err
	}
	return imageFromLayer(layer, v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}})
}

// Fixes named when a binary cannot run in the image it would go into.
const (
	echoFix    = "rebuild it static: `CGO_ENABLED=0 go build -o bin/ ./cmd/...`"
	busyboxFix = "run `deploy/install-deps.sh`, which unpacks Debian's busybox package (dynamically linked, with a shell that runs programs by PATH) at " + toolboxBusybox
)

// elfMachines are the ELF machines of the architectures Go builds Linux
// binaries for.
var elfMachines = map[string]elf.Machine{
	"386": elf.EM_386, "amd64": elf.EM_X86_64, "arm": elf.EM_ARM, "arm64": elf.EM_AARCH64,
	"loong64": elf.EM_LOONGARCH, "mips": elf.EM_MIPS, "mipsle": elf.EM_MIPS, "mips64": elf.EM_MIPS,
	"mips64le": elf.EM_MIPS, "ppc64": elf.EM_PPC64, "ppc64le": elf.EM_PPC64, "riscv64": elf.EM_RISCV,
	"s390x": elf.EM_S390,
}

// checkImageBinary refuses a binary that cannot run as the only program
// of an image: the project's images hold no C library and no dynamic
// loader, so a dynamically linked binary (a `go build` with cgo on, the
// default where gcc is installed) fails in every pod with `exec /echo: no
// such file or directory`, and one built for another machine with `exec
// format error`. fix says how to get a good one.
func checkImageBinary(path, fix string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s cannot go into an image: it is not a readable ELF executable (%v); %s", path, err, fix)
	}
	defer f.Close()
	if want, ok := elfMachines[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%s cannot go into an image: it is built for %s, this machine is %s (%s); %s", path, f.Machine, runtime.GOARCH, want, fix)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(io.LimitReader(prog.Open(), 4096))
			return fmt.Errorf("%s cannot go into an image: it is dynamically linked (interpreter %s), and the image has no C library, so its pods would fail with `exec: no such file or directory`; %s",
				path, strings.TrimRight(string(interp), "\x00"), fix)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s cannot go into an image: it needs the shared libraries %s, which the image does not have; %s", path, strings.Join(libs, ", "), fix)
	}
	return nil
}

// imageBinaries are the programs the project's images are made of.
type imageBinaries struct {
	echo    string // cmd/echo
	busybox string // Debian's busybox (dynamically linked)
	toolbox string // cmd/toolbox: the applets busybox gets wrong
}

// checkLinkedBinary refuses a binary that cannot run in an image that
// carries the libraries it loads: one for another machine, or one that
// needs libraries the host lacks.
func checkLinkedBinary(path, fix string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s cannot go into an image: it is not a readable ELF executable (%v); %s", path, err, fix)
	}
	defer f.Close()
	if want, ok := elfMachines[runtime.GOARCH]; ok && f.Machine != want {
		return fmt.Errorf("%s cannot go into an image: it is built for %s, this machine is %s (%s); %s", path, f.Machine, runtime.GOARCH, want, fix)
	}
	if _, err := sharedLibraries(path); err != nil {
		return fmt.Errorf("%s cannot go into an image: %v; %s", path, err, fix)
	}
	return nil
}

// checkImageBinaries checks the binaries of the project's images; the
// toolbox's busybox may be dynamically linked, as its libraries go with it.
func checkImageBinaries(b imageBinaries) error {
	return errors.Join(checkImageBinary(b.echo, echoFix), checkLinkedBinary(b.busybox, busyboxFix), checkImageBinary(b.toolbox, echoFix))
}

// projectImages builds every tag of the project's images, keyed by
// repository:tag under the registry.
func projectImages(b imageBinaries) (map[string]v1.Image, error) {
	bin, err := os.ReadFile(b.echo)
	if err != nil {
		return nil, fmt.Errorf("reading the echo binary %s: %w", b.echo, err)
	}
	echo, err := echoImages(bin)
	if err != nil {
		return nil, fmt.Errorf("building minik8s/echo: %w", err)
	}
	tb, err := toolboxImage(b.busybox, b.toolbox)
	if err != nil {
		return nil, fmt.Errorf("building minik8s/toolbox: %w", err)
	}
	out := map[string]v1.Image{}
	for tag, img := range echo {
		out["minik8s/echo:"+tag] = img
	}
	for _, tag := range []string{"latest", "v1", "v2"} {
		out["minik8s/toolbox:"+tag] = tb
	}
	return out, nil
}

// ensureImages pushes each project image whose digest the registry does
// not already hold under that tag; it returns how many it pushed.
func ensureImages(ctx context.Context, registry string, b imageBinaries) (int, error) {
	return ensureImagesCached(ctx, registry, b, "")
}

// imagesKey identifies the inputs of the project's images: building them
// (gzip) takes seconds, hashing the binaries milliseconds.
func imagesKey(b imageBinaries) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "minik8s-images-v2\x00%s\x00%s\x00%s\x00%s\x00", greetingV1, greetingV2, runtime.GOARCH, strings.Join(toolboxApplets, ","))
	libs, err := sharedLibraries(b.busybox)
	if err != nil {
		return "", err
	}
	for _, f := range append([]string{b.echo, b.busybox, b.toolbox}, libs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ensureImagesCached is ensureImages with a record in cacheFile of what
// was pushed last: when the inputs are unchanged and the registry still
// holds every recorded digest, nothing is built.
func ensureImagesCached(ctx context.Context, registry string, b imageBinaries, cacheFile string) (int, error) {
	// Before the cache: a record may be of a broken binary pushed earlier.
	if err := checkImageBinaries(b); err != nil {
		return 0, err
	}
	key, err := imagesKey(b)
	if err != nil {
		return 0, err
	}
	if cacheFile != "" {
		var rec struct {
			Key     string
			Digests map[string]string
		}
		if b, err := os.ReadFile(cacheFile); err == nil && json.Unmarshal(b, &rec) == nil && rec.Key == key && len(rec.Digests) > 0 {
			all := true
			for k, d := range rec.Digests {
				ref, err := name.ParseReference(registry+"/"+k, name.Insecure)
				if err != nil {
					all = false
					break
				}
				desc, err := remote.Head(ref, remote.WithContext(ctx))
				if err != nil || desc.Digest.String() != d {
					all = false
					break
				}
			}
			if all {
				return 0, nil
			}
		}
	}
	n, digests, err := pushImages(ctx, registry, b)
	if err == nil && cacheFile != "" {
		b, _ := json.Marshal(map[string]any{"Key": key, "Digests": digests})
		os.WriteFile(cacheFile, b, 0o644)
	}
	return n, err
}

func pushImages(ctx context.Context, registry string, b imageBinaries) (int, map[string]string, error) {
	imgs, err := projectImages(b)
	if err != nil {
		return 0, nil, err
	}
	keys := make([]string, 0, len(imgs))
	for k := range imgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pushed := 0
	digests := map[string]string{}
	for _, k := range keys {
		ref, err := name.ParseReference(registry+"/"+k, name.Insecure)
		if err != nil {
			return pushed, nil, err
		}
		want, err := imgs[k].Digest()
		if err != nil {
			return pushed, nil, err
		}
		digests[k] = want.String()
		if d, err := remote.Head(ref, remote.WithContext(ctx)); err == nil && d.Digest == want {
			continue
		}
		if err := remote.Write(ref, imgs[k], remote.WithContext(ctx)); err != nil {
			return pushed, nil, pushError(ref.String(), err)
		}
		pushed++
	}
	return pushed, digests, nil
}

func pushError(ref string, err error) error {
	return fmt.Errorf("pushing %s: %w (is the lab registry running? see `ctl lab status` and `ctl lab logs registry`; is the disk full?)", ref, err)
}

// LoadImage pushes the images of a docker-archive or OCI-layout tarball
// into the registry. A docker archive keeps its tags (RepoTags), an OCI
// layout its ref.name annotations; rename sets the name of a tarball that
// holds one image. It returns the references it pushed.
func LoadImage(ctx context.Context, registry, file, rename string) ([]string, error) {
	kind, err := tarKind(file)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "docker":
		return loadDockerArchive(ctx, registry, file, rename)
	case "oci":
		return loadOCILayout(ctx, registry, file, rename)
	}
	return nil, fmt.Errorf("%s is neither a docker-archive (manifest.json) nor an OCI layout (index.json, oci-layout) tarball: make one with `docker save`, `podman save` or `skopeo copy … oci-archive:FILE`", file)
}

// tarKind looks at the top-level files of the tarball.
func tarKind(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var r io.Reader = f
	if gz, err := gzip.NewReader(f); err == nil {
		r = gz
	} else {
		f.Seek(0, io.SeekStart)
	}
	tr := tar.NewReader(r)
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading %s as a tar: %w", file, err)
		}
		seen[strings.TrimPrefix(h.Name, "./")] = true
	}
	switch {
	case seen["manifest.json"]:
		return "docker", nil
	case seen["index.json"] && seen["oci-layout"]:
		return "oci", nil
	}
	return "", nil
}

// retarget maps an image name to the lab registry the way the agents'
// docker.io mirror does: nginx:1.25 → REGISTRY/library/nginx:1.25.
func retarget(registry, ref string) (name.Tag, error) {
	t, err := name.NewTag(ref)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image name %q: %w", ref, err)
	}
	repo := t.RepositoryStr()
	if reg := t.RegistryStr(); reg != name.DefaultRegistry && reg != "index.docker.io" {
		// Other registries keep their host as the first path element, so
		// names stay apart; pods name them as REGISTRY/… then.
		repo = reg + "/" + repo
	}
	return name.NewTag(registry+"/"+repo+":"+t.TagStr(), name.Insecure)
}

func loadDockerArchive(ctx context.Context, registry, file, rename string) ([]string, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(file) })
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var pushed []string
	for i, d := range m {
		tags := d.RepoTags
		if rename != "" {
			if len(m) > 1 {
				return nil, fmt.Errorf("%s holds %d images: --name works only for one", file, len(m))
			}
			tags = []string{rename}
		}
		if len(tags) == 0 {
			return nil, fmt.Errorf("image %d of %s has no tag: give it one with --name REPO:TAG", i+1, file)
		}
		var src *name.Tag
		if len(d.RepoTags) > 0 {
			t, err := name.NewTag(d.RepoTags[0])
			if err != nil {
				return nil, err
			}
			src = &t
		}
		img, err := tarball.ImageFromPath(file, src)
		if err != nil {
			return nil, fmt.Errorf("reading image %d of %s: %w", i+1, file, err)
		}
		for _, tag := range tags {
			dst, err := retarget(registry, tag)
			if err != nil {
				return pushed, err
			}
			if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
				return pushed, pushError(dst.String(), err)
			}
			pushed = append(pushed, dst.String())
		}
	}
	return pushed, nil
}

// ImageRef is one repository:tag in the registry.
type ImageRef struct {
	Repository string
	Tag        string
	Digest     string
}

// ListImages lists every repository and tag the registry holds.
func ListImages(ctx context.Context, registry string) ([]ImageRef, error) {
	reg, err := name.NewRegistry(registry, name.Insecure)
	if err != nil {
		return nil, err
	}
	repos, err := remote.Catalog(ctx, reg)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w (is the lab up? `ctl lab status`)", registry, err)
	}
	var out []ImageRef
	for _, r := range repos {
		repo, err := name.NewRepository(registry+"/"+r, name.Insecure)
		if err != nil {
			return nil, err
		}
		tags, err := remote.List(repo, remote.WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("listing tags of %s: %w", r, err)
		}
		sort.Strings(tags)
		for _, t := range tags {
			ref := ImageRef{Repository: r, Tag: t}
			if d, err := remote.Head(repo.Tag(t), remote.WithContext(ctx)); err == nil {
				ref.Digest = d.Digest.String()
			}
			out = append(out, ref)
		}
	}
	return out, nil
}

// ociRefName reads an OCI index entry's image name.
func ociRefName(annotations map[string]string) string {
	if n := annotations["io.containerd.image.name"]; n != "" {
		return n
	}
	return annotations["org.opencontainers.image.ref.name"]
}

// extractTar unpacks file (plain or gzip) into dir, refusing paths that
// leave it.
func extractTar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if gz, err := gzip.NewReader(f); err == nil {
		r = gz
	} else {
		f.Seek(0, io.SeekStart)
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.Create(target)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			out.Close()
			if err != nil {
				return err
			}
		}
	}
}
