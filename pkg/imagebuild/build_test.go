package imagebuild

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// fakeRunner stands in for containerd: each RUN "writes" the file
// /run-out/N holding its command line and environment, or fails with the
// exit code in fail.
type fakeRunner struct {
	specs []RunSpec
	fail  map[string]int // command substring → exit code
	empty bool           // RUN changes nothing
}

func (f *fakeRunner) Run(_ context.Context, spec RunSpec) (v1.Layer, error) {
	f.specs = append(f.specs, spec)
	cmd := strings.Join(spec.Args, " ")
	for sub, code := range f.fail {
		if strings.Contains(cmd, sub) {
			fmt.Fprintf(spec.Output, "output of %s\n", sub)
			return nil, &ExitError{Args: spec.Args, Code: code}
		}
	}
	if f.empty {
		return nil, nil
	}
	content := cmd + "\n" + strings.Join(spec.Env, "\n")
	t, err := layerTar([]copyItem{
		{hdr: tar.Header{Name: "run-out", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: fmt.Sprintf("run-out/%d", len(f.specs)), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(content))}, data: []byte(content)},
	})
	if err != nil {
		return nil, err
	}
	return memLayer(t)
}

// baseImage is a toolbox-like base: /bin/sh, /etc/passwd with user app
// (1000:1000), /etc/group with group staff (50), CMD ["sh"].
func baseImage(t *testing.T) v1.Image {
	t.Helper()
	passwd := "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
	group := "root:x:0:\nstaff:x:50:\napp:x:1000:\n"
	tb, err := layerTar([]copyItem{
		{hdr: tar.Header{Name: "bin", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "bin/sh", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2}, data: []byte("sh")},
		{hdr: tar.Header{Name: "etc", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(passwd))}, data: []byte(passwd)},
		{hdr: tar.Header{Name: "etc/group", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(group))}, data: []byte(group)},
		{hdr: tar.Header{Name: "tmp", Typeflag: tar.TypeDir, Mode: 0o1777}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := memLayer(tb)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config = v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

type env struct {
	t      *testing.T
	dir    string
	cache  *Cache
	runner *fakeRunner
	base   v1.Image
	out    bytes.Buffer
}

func newEnv(t *testing.T, files map[string]string) *env {
	e := &env{t: t, dir: t.TempDir(), runner: &fakeRunner{}, base: baseImage(t)}
	e.cache = &Cache{Dir: filepath.Join(t.TempDir(), "cache")}
	for name, content := range files {
		e.write(name, content)
	}
	return e
}

func (e *env) write(name, content string) {
	p := filepath.Join(e.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) opts() Options {
	return Options{
		ContextDir: e.dir, Runner: e.runner, Cache: e.cache, Out: &e.out, TmpDir: e.t.TempDir(),
		Resolve: func(_ context.Context, ref string) (v1.Image, string, error) {
			if ref != "minik8s/toolbox" && ref != "minik8s/toolbox:latest" {
				return nil, "", fmt.Errorf("%s: not found", ref)
			}
			return e.base, "10.200.0.1:5000/minik8s/toolbox@sha256:x", nil
		},
	}
}

func (e *env) build(mod ...func(*Options)) (*Result, error) {
	o := e.opts()
	for _, m := range mod {
		m(&o)
	}
	e.out.Reset()
	return Build(context.Background(), o)
}

func (e *env) mustBuild(mod ...func(*Options)) *Result {
	e.t.Helper()
	r, err := e.build(mod...)
	if err != nil {
		e.t.Fatalf("build: %v\noutput:\n%s", err, e.out.String())
	}
	return r
}

// entry is one file of a layer as the tests compare it.
type entry struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
	Data     string
	Link     string
}

func layerEntries(t *testing.T, l v1.Layer) []entry {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out = append(out, entry{Name: h.Name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Data: string(b), Link: h.Linkname})
	}
}

// newLayers returns the layers the build added on top of the base.
func newLayers(t *testing.T, img v1.Image, base int) []v1.Layer {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	return ls[base:]
}

func config(t *testing.T, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf
}

func TestParseErrorsNameTheLine(t *testing.T) {
	cases := []struct {
		name, dockerfile string
		want             []string
	}{
		{"unknown instruction", "FROM scratch\nCOPY a b\nFOO bar\n", []string{"Dockerfile:3", "unknown instruction: FOO"}},
		{"copy without destination", "FROM scratch\nCOPY a\n", []string{"Dockerfile:2", "COPY requires at least two arguments"}},
		{"instruction before FROM", "RUN true\nFROM scratch\n", []string{"Dockerfile:1", "no build stage in current context"}},
		{"no instructions", "# nothing\n", []string{"Dockerfile:1", "file with no instructions"}},
		{"bad flag", "FROM scratch\nCOPY --nope=1 a b\n", []string{"Dockerfile:2", "unknown flag: --nope"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseDockerfile("Dockerfile", []byte(tc.dockerfile))
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got error %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestParseHeredocAndContinuation(t *testing.T) {
	df, err := ParseDockerfile("Dockerfile", []byte("FROM scratch\nRUN <<EOF\necho a\necho b\nEOF\nRUN echo one \\\n  two\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(df.Stages[0].Commands), 2; got != want {
		t.Fatalf("got %d commands, want %d", got, want)
	}
}

func TestRunsAndCacheHits(t *testing.T) {
	e := newEnv(t, map[string]string{
		"Dockerfile":       "FROM minik8s/toolbox\nWORKDIR /app\nCOPY requirements.txt .\nRUN install\nCOPY app.py .\nCMD [\"python\", \"app.py\"]\n",
		"requirements.txt": "flask\n",
		"app.py":           "print(1)\n",
	})
	first := e.mustBuild()
	if got, want := len(e.runner.specs), 1; got != want {
		t.Fatalf("cold build: got %d RUNs, want %d", got, want)
	}
	if first.Cached != 0 {
		t.Errorf("cold build: got %d cached steps, want 0", first.Cached)
	}
	spec := e.runner.specs[0]
	if diff := cmp.Diff(RunSpec{Args: []string{"/bin/sh", "-c", "install"}, Env: []string{"PATH=/bin"}, Cwd: "/app"},
		RunSpec{Args: spec.Args, Env: spec.Env, Cwd: spec.Cwd, User: spec.User}); diff != "" {
		t.Errorf("RUN spec (-want +got):\n%s", diff)
	}
	if got, want := len(spec.Layers), 3; got != want { // base, WORKDIR, COPY
		t.Errorf("RUN saw %d layers, want %d", got, want)
	}

	// Unchanged: every step is a hit, nothing runs.
	again := e.mustBuild()
	if len(e.runner.specs) != 1 || again.Cached != 4 {
		t.Errorf("rebuild: got %d RUNs and %d cached steps, want 1 and 4\n%s", len(e.runner.specs), again.Cached, e.out.String())
	}
	d1, _ := first.Image.Digest()
	d2, _ := again.Image.Digest()
	l1, _ := first.Image.Layers()
	l2, _ := again.Image.Layers()
	for i := range l1 {
		a, _ := l1[i].Digest()
		b, _ := l2[i].Digest()
		if a != b {
			t.Errorf("layer %d: got %s on rebuild, want %s", i, b, a)
		}
	}
	_ = d1
	_ = d2

	// Touching a file is still a hit (content, not times).
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(e.dir, "requirements.txt"), future, future)
	if r := e.mustBuild(); r.Cached != 4 {
		t.Errorf("after touch: got %d cached steps, want 4", r.Cached)
	}

	// Changing the app, copied after the RUN, reuses the RUN.
	e.write("app.py", "print(2)\n")
	r := e.mustBuild()
	if len(e.runner.specs) != 1 || r.Cached != 3 {
		t.Errorf("after app change: got %d RUNs and %d cached steps, want 1 and 3\n%s", len(e.runner.specs), r.Cached, e.out.String())
	}
	if !strings.Contains(e.out.String(), "[5/5] COPY app.py .") || !strings.Contains(e.out.String(), "CACHED") {
		t.Errorf("progress output lacks the steps:\n%s", e.out.String())
	}

	// Changing requirements, copied before the RUN, runs it again.
	e.write("requirements.txt", "flask\nrequests\n")
	if r := e.mustBuild(); len(e.runner.specs) != 2 || r.Cached != 1 {
		t.Errorf("after requirements change: got %d RUNs and %d cached steps, want 2 and 1", len(e.runner.specs), r.Cached)
	}

	// SOURCE_DATE_EPOCH is part of every key: its layers have other times.
	epoch := time.Unix(1700000000, 0)
	if r := e.mustBuild(func(o *Options) { o.Epoch = &epoch }); len(e.runner.specs) != 3 || r.Cached != 0 {
		t.Errorf("with an epoch: got %d RUNs and %d cached steps, want 3 and 0", len(e.runner.specs), r.Cached)
	}
	e.runner.specs = e.runner.specs[:2]

	// --no-cache runs everything.
	if r := e.mustBuild(func(o *Options) { o.NoCache = true }); len(e.runner.specs) != 3 || r.Cached != 0 {
		t.Errorf("--no-cache: got %d RUNs and %d cached steps, want 3 and 0", len(e.runner.specs), r.Cached)
	}
}

func TestCacheKeyParts(t *testing.T) {
	cases := []struct {
		name string
		a, b []string
		same bool
	}{
		{"same parts", []string{"x", "RUN", "a"}, []string{"x", "RUN", "a"}, true},
		{"other parent", []string{"x", "RUN", "a"}, []string{"y", "RUN", "a"}, false},
		{"other instruction", []string{"x", "RUN", "a"}, []string{"x", "RUN", "b"}, false},
		{"parts do not run together", []string{"x", "ab", "c"}, []string{"x", "a", "bc"}, false},
	}
	for _, tc := range cases {
		if got := cacheKey(tc.a...) == cacheKey(tc.b...); got != tc.same {
			t.Errorf("%s: got equal=%v, want %v", tc.name, got, tc.same)
		}
	}
}

func TestRunKeyCoversEnvAndUser(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nARG V=1\nUSER app\nRUN go\n"})
	e.mustBuild()
	e.mustBuild(func(o *Options) { o.BuildArgs = map[string]string{"V": "2"} })
	if got, want := len(e.runner.specs), 2; got != want {
		t.Fatalf("got %d RUNs, want %d (a changed ARG must miss)", got, want)
	}
	if got, want := e.runner.specs[1].User, "app"; got != want {
		t.Errorf("RUN user: got %q, want %q", got, want)
	}
	e.mustBuild(func(o *Options) { o.BuildArgs = map[string]string{"V": "2"} })
	if got, want := len(e.runner.specs), 2; got != want {
		t.Errorf("got %d RUNs, want %d (same ARG must hit)", got, want)
	}
}

func TestCopyDockerignoreChownChmod(t *testing.T) {
	e := newEnv(t, map[string]string{
		"Dockerfile":        "FROM minik8s/toolbox\nCOPY --chown=app:staff src/ /srv/\nCOPY --chmod=0640 --chown=1001 top.txt /etc/top.txt\n",
		".dockerignore":     "src/secret.txt\nsrc/logs\n*.tmp\n**/*.bak\n!src/logs/keep.log\n",
		"src/a.txt":         "a",
		"src/secret.txt":    "no",
		"src/logs/x.log":    "no",
		"src/logs/keep.log": "yes",
		"src/sub/b.txt":     "b",
		"src/sub/c.bak":     "no",
		"junk.tmp":          "no",
		"top.txt":           "top",
	})
	r := e.mustBuild()
	ls := newLayers(t, r.Image, 1)
	if len(ls) != 2 {
		t.Fatalf("got %d layers, want 2", len(ls))
	}
	var got []entry
	for _, en := range layerEntries(t, ls[0]) {
		got = append(got, entry{Name: en.Name, Type: en.Type, UID: en.UID, GID: en.GID, Data: en.Data})
	}
	want := []entry{
		{Name: "srv/", Type: tar.TypeDir, UID: 1000, GID: 50},
		{Name: "srv/a.txt", Type: tar.TypeReg, UID: 1000, GID: 50, Data: "a"},
		{Name: "srv/logs/", Type: tar.TypeDir, UID: 1000, GID: 50},
		{Name: "srv/logs/keep.log", Type: tar.TypeReg, UID: 1000, GID: 50, Data: "yes"},
		{Name: "srv/sub/", Type: tar.TypeDir, UID: 1000, GID: 50},
		{Name: "srv/sub/b.txt", Type: tar.TypeReg, UID: 1000, GID: 50, Data: "b"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("COPY --chown src/ /srv/ (-want +got):\n%s", diff)
	}
	top := layerEntries(t, ls[1])
	if len(top) != 1 {
		t.Fatalf("got %d entries in the second COPY, want 1 (/etc exists): %+v", len(top), top)
	}
	if diff := cmp.Diff(entry{Name: "etc/top.txt", Type: tar.TypeReg, Mode: 0o640, UID: 1001, GID: 1001, Data: "top"}, top[0]); diff != "" {
		t.Errorf("COPY --chmod --chown=1001 (-want +got):\n%s", diff)
	}
}

func TestCopyErrors(t *testing.T) {
	cases := []struct {
		name, dockerfile, want string
	}{
		{"missing source", "FROM minik8s/toolbox\nCOPY nope.txt /x\n", `Dockerfile:2: failed to compute cache key: failed to calculate checksum of ref: "/nope.txt": not found`},
		{"ignored source", "FROM minik8s/toolbox\nCOPY junk.tmp /x\n", `"/junk.tmp": not found`},
		{"many to a file", "FROM minik8s/toolbox\nCOPY a.txt b.txt /x\n", "the destination must be a directory and end with a /"},
		{"unknown user", "FROM minik8s/toolbox\nCOPY --chown=nobody a.txt /x\n", `no such user "nobody"`},
		{"bad chmod", "FROM minik8s/toolbox\nCOPY --chmod=u+x a.txt /x\n", "invalid chmod parameter"},
		{"ADD a URL", "FROM minik8s/toolbox\nADD https://example.com/f /f\n", "no network"},
		{"missing base", "FROM nothere\n", "Dockerfile:1: nothere: not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"Dockerfile": tc.dockerfile, "a.txt": "a", "b.txt": "b", "junk.tmp": "j", ".dockerignore": "*.tmp\n"})
			_, err := e.build()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestCopyDestinations(t *testing.T) {
	cases := []struct {
		name, copy string
		want       []string
	}{
		{"file to file", "COPY a.txt /x/y.txt", []string{"x/", "x/y.txt"}},
		{"file into dir", "COPY a.txt /x/", []string{"x/", "x/a.txt"}},
		{"file into existing dir", "COPY a.txt /etc", []string{"etc/a.txt"}},
		{"relative to WORKDIR", "COPY a.txt .", []string{"w/a.txt"}},
		{"glob", "COPY *.txt /g/", []string{"g/", "g/a.txt", "g/b.txt"}},
		{"dir contents", "COPY d /", []string{"in.txt"}},
		{"heredoc", "COPY <<EOF /h.txt\nhi\nEOF", []string{"h.txt"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nWORKDIR /w\n" + tc.copy + "\n", "a.txt": "a", "b.txt": "b", "d/in.txt": "i"})
			r := e.mustBuild()
			ls := newLayers(t, r.Image, 2) // base, WORKDIR
			if len(ls) != 1 {
				t.Fatalf("got %d layers after WORKDIR, want 1", len(ls))
			}
			var got []string
			for _, en := range layerEntries(t, ls[0]) {
				got = append(got, en.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddUnpacksLocalTar(t *testing.T) {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "pkg/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "pkg/bin", Typeflag: tar.TypeReg, Mode: 0o755, Size: 3, Uid: 7})
	tw.Write([]byte("bin"))
	tw.Close()
	zw.Close()
	e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nADD pkg.tar.gz /opt/\nCOPY pkg.tar.gz /opt/\n"})
	os.WriteFile(filepath.Join(e.dir, "pkg.tar.gz"), b.Bytes(), 0o644)
	r := e.mustBuild()
	ls := newLayers(t, r.Image, 1)
	var add, cp []string
	for _, en := range layerEntries(t, ls[0]) {
		add = append(add, fmt.Sprintf("%s %o %d", en.Name, en.Mode, en.UID))
	}
	for _, en := range layerEntries(t, ls[1]) {
		cp = append(cp, en.Name)
	}
	if diff := cmp.Diff([]string{"opt/ 755 0", "opt/pkg/ 755 0", "opt/pkg/bin 755 7"}, add); diff != "" {
		t.Errorf("ADD unpacks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"opt/pkg.tar.gz"}, cp); diff != "" { // opt/ exists now
		t.Errorf("COPY does not unpack (-want +got):\n%s", diff)
	}
}

func TestEnvArgSubstitution(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": `ARG BASE=minik8s/toolbox
ARG TAG
FROM ${BASE}:${TAG:-latest}
ARG TAG
ARG NAME=world
ARG ONLY_ARG=a
ENV GREETING="hello ${NAME}" DIR=/srv/$NAME
ENV EMPTY=${UNSET:-fallback} NAME_AGAIN=$NAME
WORKDIR $DIR
LABEL greeting="$GREETING" tag=$TAG
RUN echo $GREETING
`})
	r := e.mustBuild(func(o *Options) { o.BuildArgs = map[string]string{"NAME": "minik8s", "UNUSED": "x"} })
	cf := config(t, r.Image)
	wantEnv := []string{"PATH=/bin", "GREETING=hello minik8s", "DIR=/srv/minik8s", "EMPTY=fallback", "NAME_AGAIN=minik8s"}
	if diff := cmp.Diff(wantEnv, cf.Config.Env); diff != "" {
		t.Errorf("config Env (-want +got):\n%s", diff)
	}
	if got, want := cf.Config.WorkingDir, "/srv/minik8s"; got != want {
		t.Errorf("WorkingDir: got %q, want %q", got, want)
	}
	if diff := cmp.Diff(map[string]string{"greeting": "hello minik8s", "tag": ""}, cf.Config.Labels); diff != "" {
		t.Errorf("Labels (-want +got):\n%s", diff)
	}
	spec := e.runner.specs[0]
	// RUN sees the ARGs too; shell-form RUN is not expanded by the builder.
	wantRun := []string{"PATH=/bin", "NAME=minik8s", "ONLY_ARG=a", "GREETING=hello minik8s", "DIR=/srv/minik8s", "EMPTY=fallback", "NAME_AGAIN=minik8s"}
	if diff := cmp.Diff(wantRun, spec.Env); diff != "" {
		t.Errorf("RUN env (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/bin/sh", "-c", "echo $GREETING"}, spec.Args); diff != "" {
		t.Errorf("RUN args (-want +got):\n%s", diff)
	}
	h := cf.History[len(cf.History)-1]
	if got, want := h.CreatedBy, "RUN |3 TAG= NAME=minik8s ONLY_ARG=a /bin/sh -c echo $GREETING # buildkit"; got != want {
		t.Errorf("RUN history: got %q, want %q", got, want)
	}
	if !strings.Contains(e.out.String(), "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no warning about the unused build-arg:\n%s", e.out.String())
	}
}

func TestEntrypointCmdRules(t *testing.T) {
	cases := []struct {
		name           string
		lines          string
		wantEntrypoint []string
		wantCmd        []string
	}{
		{"inherits CMD", "", nil, []string{"sh"}},
		{"ENTRYPOINT resets inherited CMD", `ENTRYPOINT ["/app"]`, []string{"/app"}, nil},
		{"ENTRYPOINT then CMD", "ENTRYPOINT [\"/app\"]\nCMD [\"--port\", \"80\"]", []string{"/app"}, []string{"--port", "80"}},
		{"CMD then ENTRYPOINT keeps CMD", "CMD [\"--port\", \"80\"]\nENTRYPOINT [\"/app\"]", []string{"/app"}, []string{"--port", "80"}},
		{"shell forms", "ENTRYPOINT exec /app\nCMD x y", []string{"/bin/sh", "-c", "exec /app"}, []string{"/bin/sh", "-c", "x y"}},
		{"SHELL changes the shell form", "SHELL [\"/bin/ash\", \"-eo\", \"pipefail\", \"-c\"]\nCMD run it", nil, []string{"/bin/ash", "-eo", "pipefail", "-c", "run it"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\n" + tc.lines + "\n"})
			cf := config(t, e.mustBuild().Image)
			if diff := cmp.Diff(tc.wantEntrypoint, cf.Config.Entrypoint); diff != "" {
				t.Errorf("Entrypoint (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantCmd, cf.Config.Cmd); diff != "" {
				t.Errorf("Cmd (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMultiStageCopyFrom(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": `FROM minik8s/toolbox AS builder
RUN make
FROM scratch AS unused
RUN never
FROM scratch
COPY --from=builder /run-out/1 /bin/app
COPY --from=0 /etc/passwd /etc/
ENTRYPOINT ["/bin/app"]
`})
	r := e.mustBuild()
	if got, want := len(e.runner.specs), 1; got != want {
		t.Errorf("got %d RUNs, want %d (the unused stage is not built)", got, want)
	}
	ls, _ := r.Image.Layers()
	if len(ls) != 2 {
		t.Fatalf("got %d layers, want 2 (scratch + two COPYs)", len(ls))
	}
	var names []string
	for _, l := range ls {
		for _, en := range layerEntries(t, l) {
			names = append(names, en.Name)
			if en.Name == "bin/app" && !strings.HasPrefix(en.Data, "/bin/sh -c make") {
				t.Errorf("bin/app: got %q, want the builder's RUN output", en.Data)
			}
		}
	}
	if diff := cmp.Diff([]string{"bin/", "bin/app", "etc/", "etc/passwd"}, names); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if !strings.Contains(e.out.String(), "[builder 2/2] RUN make") || !strings.Contains(e.out.String(), "[stage-2 2/3] COPY --from=builder") {
		t.Errorf("progress does not name the stages:\n%s", e.out.String())
	}

	// --target builds the named stage only.
	r = e.mustBuild(func(o *Options) { o.Target = "builder" })
	if ls, _ := r.Image.Layers(); len(ls) != 2 {
		t.Errorf("--target builder: got %d layers, want 2", len(ls))
	}
	if _, err := e.build(func(o *Options) { o.Target = "nope" }); err == nil || !strings.Contains(err.Error(), `target stage "nope" could not be found`) {
		t.Errorf("--target nope: got %v", err)
	}
}

func TestScratchHistoryAndEpoch(t *testing.T) {
	files := map[string]string{"Dockerfile": `FROM scratch
LABEL a=b
COPY hello.txt /
WORKDIR /data
RUN x
EXPOSE 8080 53/udp
VOLUME /data
USER 1000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD ["/hello"]
CMD ["/hello"]
`, "hello.txt": "hi"}
	epoch := time.Unix(1700000000, 0).UTC()
	e := newEnv(t, files)
	r := e.mustBuild(func(o *Options) { o.Epoch = &epoch })
	cf := config(t, r.Image)
	type h struct {
		By    string
		Empty bool
	}
	var got []h
	for _, x := range cf.History {
		got = append(got, h{x.CreatedBy, x.EmptyLayer})
		if !x.Created.Time.Equal(epoch) {
			t.Errorf("history %q created %v, want %v", x.CreatedBy, x.Created, epoch)
		}
	}
	want := []h{
		{"LABEL a=b", true},
		{"COPY hello.txt / # buildkit", false},
		{"WORKDIR /data", false},
		{"RUN /bin/sh -c x # buildkit", false},
		{"EXPOSE [53/udp 8080/tcp]", true}, // BuildKit sorts the ports
		{"VOLUME [/data]", true},
		{"USER 1000", true},
		{"STOPSIGNAL SIGTERM", true},
		{"HEALTHCHECK {Test:[CMD /hello] Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}", true},
		{`CMD ["/hello"]`, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
	ls, _ := r.Image.Layers()
	if got, want := len(ls), 3; got != want {
		t.Errorf("got %d layers, want %d (one per non-empty history entry)", got, want)
	}
	if !cf.Created.Time.Equal(epoch) {
		t.Errorf("created: got %v, want %v", cf.Created, epoch)
	}
	if diff := cmp.Diff([]string{"PATH=" + defaultPath}, cf.Config.Env); diff != "" {
		t.Errorf("scratch Env (-want +got):\n%s", diff)
	}
	ports := make([]string, 0)
	for p := range cf.Config.ExposedPorts {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	if diff := cmp.Diff([]string{"53/udp", "8080/tcp"}, ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if cf.Config.Healthcheck == nil || cf.Config.Healthcheck.Interval != 5*time.Second {
		t.Errorf("healthcheck: got %+v", cf.Config.Healthcheck)
	}
	for _, en := range layerEntries(t, ls[0]) {
		if en.Name == "hello.txt" && !strings.Contains(fmt.Sprint(en), "hi") {
			t.Errorf("hello.txt: got %+v", en)
		}
	}

	// With SOURCE_DATE_EPOCH the same inputs give the same digest, cache
	// or not.
	d1, _ := r.Image.Digest()
	e2 := newEnv(t, files)
	r2 := e2.mustBuild(func(o *Options) { o.Epoch = &epoch })
	d2, _ := r2.Image.Digest()
	if d1 != d2 {
		t.Errorf("two builds with SOURCE_DATE_EPOCH: got digests %s and %s, want equal", d1, d2)
	}
}

func TestWorkdirLayer(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nUSER app\nWORKDIR /home/app/src\nWORKDIR /etc\nWORKDIR /\n"})
	r := e.mustBuild()
	ls := newLayers(t, r.Image, 1)
	if len(ls) != 1 {
		t.Fatalf("got %d layers, want 1 (WORKDIR of an existing dir or / adds none)", len(ls))
	}
	var got []string
	for _, en := range layerEntries(t, ls[0]) {
		got = append(got, fmt.Sprintf("%s %d:%d", en.Name, en.UID, en.GID))
	}
	if diff := cmp.Diff([]string{"home/ 1000:1000", "home/app/ 1000:1000", "home/app/src/ 1000:1000"}, got); diff != "" {
		t.Errorf("WORKDIR layer (-want +got):\n%s", diff)
	}
}

func TestFailingRunPushesNothing(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nRUN ok\nRUN broken step\nRUN after\n"})
	e.runner.fail = map[string]int{"broken": 3}
	_, err := e.build()
	if err == nil {
		t.Fatal("got no error")
	}
	for _, want := range []string{"Dockerfile:3", `process "/bin/sh -c broken step" did not complete successfully: exit code: 3`, "output of broken"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got error %q, want it to contain %q", err, want)
		}
	}
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Errorf("got %v, want an ExitError with code 3", err)
	}
	if got, want := len(e.runner.specs), 2; got != want {
		t.Errorf("got %d RUNs, want %d (nothing after the failure)", got, want)
	}
	// The step before the failure is cached, the failed one is not.
	e.runner.fail = nil
	r := e.mustBuild()
	if r.Cached != 1 || len(e.runner.specs) != 4 {
		t.Errorf("after fixing: got %d cached and %d RUNs, want 1 and 4", r.Cached, len(e.runner.specs))
	}
}

func TestEmptyRunAddsNoLayer(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nRUN true\n"})
	e.runner.empty = true
	r := e.mustBuild()
	if ls, _ := r.Image.Layers(); len(ls) != 1 {
		t.Errorf("got %d layers, want 1", len(ls))
	}
	cf := config(t, r.Image)
	if h := cf.History[len(cf.History)-1]; !h.EmptyLayer {
		t.Errorf("history %+v: want empty_layer", h)
	}
	if r := e.mustBuild(); r.Cached != 1 || len(e.runner.specs) != 1 {
		t.Errorf("rebuild: got %d cached, %d RUNs; want 1 and 1", r.Cached, len(e.runner.specs))
	}
}

func TestUnsupported(t *testing.T) {
	cases := []struct{ name, line, want string }{
		{"RUN --mount", "RUN --mount=type=cache,target=/c true", "RUN --mount is not supported"},
		{"platform", "", "builds run on this machine's containerd"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\n" + tc.line + "\n"})
			_, err := e.build(func(o *Options) {
				if tc.line == "" {
					o.Platform = "linux/s390x"
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestLabRef(t *testing.T) {
	cases := map[string]string{
		"hello:v1":                       "10.200.0.1:5000/library/hello:v1",
		"minik8s/toolbox":                "10.200.0.1:5000/minik8s/toolbox:latest",
		"quay.io/org/app:1":              "10.200.0.1:5000/quay.io/org/app:1",
		"10.200.0.1:5000/minik8s/echo:2": "10.200.0.1:5000/minik8s/echo:2",
	}
	for in, want := range cases {
		r, err := LabRef("10.200.0.1:5000", in)
		if err != nil {
			t.Fatal(err)
		}
		if r.String() != want {
			t.Errorf("LabRef(%q): got %q, want %q", in, r.String(), want)
		}
	}
}

func TestHistoryPairsLayers(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nENV A=1\nCOPY a /a\nCMD [\"x\"]\n", "a": "a"})
	r := e.mustBuild()
	hist, err := History(r.Image)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range hist {
		got = append(got, fmt.Sprintf("%s|%v", h.CreatedBy, h.Layer != ""))
	}
	want := []string{`CMD ["x"]|false`, "COPY a /a # buildkit|true", "ENV A=1|false", "|true"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func TestOCIManifest(t *testing.T) {
	e := newEnv(t, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nCOPY a /a\n", "a": "a"})
	docker := e.mustBuild()
	oci := e.mustBuild(func(o *Options) { o.OCI = true })
	for _, tc := range []struct {
		name            string
		img             v1.Image
		manifest, layer string
		config          string
	}{
		{"default", docker.Image, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.container.image.v1+json"},
		{"--oci", oci.Image, "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.config.v1+json"},
	} {
		m, err := tc.img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if string(m.MediaType) != tc.manifest || string(m.Config.MediaType) != tc.config {
			t.Errorf("%s: got manifest %s config %s, want %s and %s", tc.name, m.MediaType, m.Config.MediaType, tc.manifest, tc.config)
		}
		if len(m.Layers) != 2 {
			t.Fatalf("%s: got %d layers, want 2", tc.name, len(m.Layers))
		}
		for i, l := range m.Layers {
			if string(l.MediaType) != tc.layer {
				t.Errorf("%s: layer %d is %s, want %s", tc.name, i, l.MediaType, tc.layer)
			}
		}
	}
	// The same blobs either way.
	dl, _ := docker.Image.Manifest()
	ol, _ := oci.Image.Manifest()
	for i := range dl.Layers {
		if dl.Layers[i].Digest != ol.Layers[i].Digest {
			t.Errorf("layer %d: got %s with --oci, want %s", i, ol.Layers[i].Digest, dl.Layers[i].Digest)
		}
	}
}
