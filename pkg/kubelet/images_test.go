package kubelet

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1img "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// requestLog counts the registry requests by "METHOD kind" (kind is
// manifests or blobs).
type requestLog struct {
	mu sync.Mutex
	n  map[string]int
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		for _, k := range []string{"manifests", "blobs"} {
			if strings.Contains(r.URL.Path, "/"+k+"/") {
				kind = k
			}
		}
		l.mu.Lock()
		l.n[r.Method+" "+kind]++
		l.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (l *requestLog) take() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.n
	l.n = map[string]int{}
	return out
}

// pushFileImage pushes a one-layer image holding /hello with content to
// ref.
func pushFileImage(t *testing.T, ref, content string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: int64(len(content))})
	_, _ = tw.Write([]byte(content))
	_ = tw.Close()
	b := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", goarch()
	cf.Config = v1img.Config{Cmd: []string{"/hello"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// TestRealPullAlwaysWarm pulls through a real containerd from a registry:
// the first pull fetches, a pull of an unchanged tag only resolves the
// digest (no blob, no manifest body), a changed tag is fetched again, and
// concurrent pulls share one resolve.
func TestRealPullAlwaysWarm(t *testing.T) {
	skipUnlessReal(t)
	dir := t.TempDir()
	t.Cleanup(func() { unmountUnder(dir) })
	sock := startContainerd(t, dir)
	cd, err := containerd.New(sock, containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cd.Close()

	log := &requestLog{n: map[string]int{}}
	reg := httptest.NewServer(log.wrap(registry.New(registry.Logger(stdlog.New(io.Discard, "", 0)))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	pushFileImage(t, host+"/minik8s/hello:latest", "one")
	log.take()

	s := newImageService(cd, map[string]string{"docker.io": reg.URL}, nil)
	ctx := namespaces.WithNamespace(context.Background(), "imgtest")
	const ref = "minik8s/hello:latest"

	first, err := s.pull(ctx, ref)
	if err != nil {
		t.Fatalf("first pull: %v", err)
	}
	if got := log.take(); got["GET blobs"] == 0 {
		t.Errorf("first pull fetched no blobs: %v", got)
	}

	again, err := s.pull(ctx, ref)
	if err != nil {
		t.Fatalf("second pull: %v", err)
	}
	if again != first {
		t.Errorf("image ID changed without a push: %s then %s", first, again)
	}
	if got := log.take(); len(got) != 1 || got["HEAD manifests"] != 1 {
		t.Errorf("pull of an unchanged image made requests %v, want one HEAD of the manifest", got)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.pull(ctx, ref); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent pull: %v", err)
	}
	if got := log.take(); got["HEAD manifests"] < 1 || got["HEAD manifests"] > 8 || got["GET blobs"] != 0 {
		t.Errorf("8 concurrent pulls of an unchanged image made requests %v, want 1..8 HEADs and no blob", got)
	} else {
		t.Logf("8 concurrent pulls: %d HEAD requests", got["HEAD manifests"])
	}

	pushFileImage(t, host+"/minik8s/hello:latest", "two")
	log.take()
	changed, err := s.pull(ctx, ref)
	if err != nil {
		t.Fatalf("pull after a push: %v", err)
	}
	if changed == first {
		t.Errorf("image ID %s unchanged after a new push", changed)
	}
	if got := log.take(); got["GET blobs"] == 0 {
		t.Errorf("pull after a push fetched no blobs: %v", got)
	}
	if _, ok, err := s.present(ctx, ref); err != nil || !ok {
		t.Errorf("present after pull = %v, %v", ok, err)
	}
}
