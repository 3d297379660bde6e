package imagebuild

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/sys/signal"
)

// historyComment is what BuildKit writes in each history entry.
const historyComment = "buildkit.dockerfile.v0"

// defaultPath is the PATH a build gets when its base image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options say what to build.
type Options struct {
	ContextDir string
	Dockerfile string // path of the Dockerfile; default CONTEXT/Dockerfile
	BuildArgs  map[string]string
	Target     string
	NoCache    bool
	Platform   string     // only the machine's own, linux/GOARCH
	OCI        bool       // OCI manifest and media types (default: Docker v2, or OCI when the base is)
	Epoch      *time.Time // SOURCE_DATE_EPOCH: timestamps of the config, history and new files

	// Resolve fetches a base image by the name FROM gives.
	Resolve func(ctx context.Context, ref string) (v1.Image, string, error)
	// Runner runs RUN steps; nil fails any RUN.
	Runner Runner
	Cache  *Cache
	Out    io.Writer
	TmpDir string
}

// Result is the built image.
type Result struct {
	Image  v1.Image
	Steps  int
	Cached int
}

// Runner runs one RUN step and returns its filesystem changes as a layer
// (nil when it changed nothing).
type Runner interface {
	Run(ctx context.Context, spec RunSpec) (v1.Layer, error)
}

// RunSpec is a RUN step: its process and the layers of its root.
type RunSpec struct {
	Args   []string
	Env    []string
	Cwd    string
	User   string
	Layers []v1.Layer
	Output io.Writer
	Epoch  *time.Time
}

// ExitError is a RUN whose process exited non-zero.
type ExitError struct {
	Args []string
	Code int
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("process %q did not complete successfully: exit code: %d", strings.Join(e.Args, " "), e.Code)
}

// stage is a stage being built.
type stage struct {
	def       instructions.Stage
	index     int
	name      string // for progress: the AS name or stage-N
	base      v1.Image
	baseName  string
	layers    []v1.Layer // base layers, then the ones added
	history   []v1.History
	cfg       v1.ConfigFile
	env       envList // ENV and ARG values, what expansion and RUN see
	buildArgs []instructions.KeyValuePairOptional
	cmdSet    bool
	fs        *fsIndex
	image     v1.Image // the final image once built
	ociBase   bool
}

// builder holds one build's state.
type builder struct {
	opts      Options
	df        *Dockerfile
	dfName    string
	lex       *shell.Lex
	globals   envList
	usedArgs  map[string]bool
	stages    []*stage
	vertex    int
	steps     int
	cached    int
	ignoreSrc copySource
	tmp       string
}

// Build builds the target stage of the Dockerfile.
func Build(ctx context.Context, opts Options) (*Result, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Dockerfile == "" {
		opts.Dockerfile = filepath.Join(opts.ContextDir, "Dockerfile")
	}
	if want := "linux/" + runtime.GOARCH; opts.Platform != "" && opts.Platform != want {
		return nil, fmt.Errorf("--platform %s: builds run on this machine's containerd, which runs %s only", opts.Platform, want)
	}
	data, err := os.ReadFile(opts.Dockerfile)
	if err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	dfName := filepath.Base(opts.Dockerfile)
	df, err := ParseDockerfile(dfName, data)
	if err != nil {
		return nil, err
	}
	for _, w := range df.Warnings {
		fmt.Fprintf(opts.Out, "[WARNING]: %s\n", w)
	}
	ignore, err := readDockerignore(opts.ContextDir, opts.Dockerfile)
	if err != nil {
		return nil, err
	}
	b := &builder{opts: opts, df: df, dfName: dfName, lex: shell.NewLex(df.Escape), usedArgs: map[string]bool{},
		ignoreSrc: copySource{root: opts.ContextDir, ignore: ignore}}
	defer func() {
		if b.tmp != "" {
			os.RemoveAll(b.tmp)
		}
	}()
	if err := b.metaArgs(); err != nil {
		return nil, err
	}
	target, order, err := b.plan()
	if err != nil {
		return nil, err
	}
	for _, i := range order {
		if err := b.buildStage(ctx, i, len(order) > 1); err != nil {
			return nil, err
		}
	}
	var unused []string
	for k := range opts.BuildArgs {
		if !b.usedArgs[k] {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		sort.Strings(unused)
		fmt.Fprintf(opts.Out, "[Warning] One or more build-args %v were not consumed\n", unused)
	}
	return &Result{Image: b.stages[target].image, Steps: b.steps, Cached: b.cached}, nil
}

// builtinArgs are the platform ARGs BuildKit defines in the global scope.
func builtinArgs() envList {
	p := "linux/" + runtime.GOARCH
	return envList{"TARGETPLATFORM=" + p, "TARGETOS=linux", "TARGETARCH=" + runtime.GOARCH, "TARGETVARIANT=",
		"BUILDPLATFORM=" + p, "BUILDOS=linux", "BUILDARCH=" + runtime.GOARCH, "BUILDVARIANT="}
}

// metaArgs evaluates the ARGs before the first FROM.
func (b *builder) metaArgs() error {
	b.globals = builtinArgs()
	for _, a := range b.df.MetaArgs {
		for _, kv := range a.Args {
			if v, ok := b.opts.BuildArgs[kv.Key]; ok {
				b.usedArgs[kv.Key] = true
				b.globals = b.globals.set(kv.Key, v)
				continue
			}
			if kv.Value != nil {
				v, _, err := b.lex.ProcessWord(*kv.Value, b.globals.getter())
				if err != nil {
					return stepError(b.dfName, &a, err)
				}
				b.globals = b.globals.set(kv.Key, v)
			}
		}
	}
	return nil
}

// plan expands the FROM names and finds the stages the target needs, in
// Dockerfile order.
func (b *builder) plan() (int, []int, error) {
	byName := map[string]int{}
	for i := range b.df.Stages {
		st := &b.df.Stages[i]
		name, _, err := b.lex.ProcessWord(st.BaseName, b.globals.getter())
		if err != nil {
			return 0, nil, fmt.Errorf("%s:%d: %w", b.dfName, st.Location[0].Start.Line, err)
		}
		if name == "" {
			return 0, nil, fmt.Errorf("%s:%d: base name (%s) should not be blank", b.dfName, st.Location[0].Start.Line, st.BaseName)
		}
		st.BaseName = name
		if st.Platform != "" {
			p, _, err := b.lex.ProcessWord(st.Platform, b.globals.getter())
			if err != nil {
				return 0, nil, err
			}
			if want := "linux/" + runtime.GOARCH; p != want {
				return 0, nil, fmt.Errorf("%s:%d: FROM --platform=%s: builds run on this machine's containerd, which runs %s only", b.dfName, st.Location[0].Start.Line, p, want)
			}
		}
		label := st.Name
		if label == "" {
			label = "stage-" + strconv.Itoa(i)
		}
		b.stages = append(b.stages, &stage{def: *st, index: i, name: label})
		if st.Name != "" {
			byName[strings.ToLower(st.Name)] = i
		}
	}
	target := len(b.df.Stages) - 1
	if b.opts.Target != "" {
		t, ok := byName[strings.ToLower(b.opts.Target)]
		if !ok {
			return 0, nil, fmt.Errorf("target stage %q could not be found", b.opts.Target)
		}
		target = t
	}
	deps := func(i int) []int {
		var out []int
		st := b.df.Stages[i]
		if j, ok := byName[strings.ToLower(st.BaseName)]; ok && j < i {
			out = append(out, j)
		}
		for _, c := range st.Commands {
			if cp, ok := c.(*instructions.CopyCommand); ok && cp.From != "" {
				if j, ok := byName[strings.ToLower(cp.From)]; ok && j < i {
					out = append(out, j)
				} else if n, err := strconv.Atoi(cp.From); err == nil && n >= 0 && n < i {
					out = append(out, n)
				}
			}
		}
		return out
	}
	need := map[int]bool{}
	var visit func(int)
	visit = func(i int) {
		if need[i] {
			return
		}
		need[i] = true
		for _, d := range deps(i) {
			visit(d)
		}
	}
	visit(target)
	var order []int
	for i := range b.df.Stages {
		if need[i] {
			order = append(order, i)
		}
	}
	return target, order, nil
}

// stageByRef finds an earlier stage by name or index.
func (b *builder) stageByRef(ref string, before int) *stage {
	for _, s := range b.stages[:before] {
		if s.def.Name != "" && strings.EqualFold(s.def.Name, ref) {
			return s
		}
	}
	if n, err := strconv.Atoi(ref); err == nil && n >= 0 && n < before {
		return b.stages[n]
	}
	return nil
}

// progress prints a step as BuildKit's plain progress does.
func (b *builder) begin(label string) int {
	b.vertex++
	fmt.Fprintf(b.opts.Out, "#%d %s\n", b.vertex, label)
	return b.vertex
}

func (b *builder) done(v int, start time.Time) {
	fmt.Fprintf(b.opts.Out, "#%d DONE %.1fs\n", v, time.Since(start).Seconds())
}

// isStep says which instructions BuildKit shows as numbered steps.
func isStep(c instructions.Command) bool {
	switch c.(type) {
	case *instructions.RunCommand, *instructions.CopyCommand, *instructions.AddCommand, *instructions.WorkdirCommand:
		return true
	}
	return false
}

func (b *builder) buildStage(ctx context.Context, i int, multi bool) error {
	s := b.stages[i]
	total := 1
	for _, c := range s.def.Commands {
		if isStep(c) {
			total++
		}
	}
	prefix := func(n int) string {
		if multi {
			return fmt.Sprintf("[%s %d/%d]", s.name, n, total)
		}
		return fmt.Sprintf("[%d/%d]", n, total)
	}
	start := time.Now()
	v := b.begin(fmt.Sprintf("%s FROM %s", prefix(1), s.def.BaseName))
	if err := b.from(ctx, s); err != nil {
		return fmt.Errorf("%s:%d: %w", b.dfName, s.def.Location[0].Start.Line, err)
	}
	b.steps++
	b.done(v, start)
	n := 1
	for _, c := range s.def.Commands {
		if isStep(c) {
			n++
		}
		if err := b.dispatch(ctx, s, c, prefix(n)); err != nil {
			return stepError(b.dfName, c, err)
		}
	}
	return b.finish(s)
}

// from starts a stage from scratch, an earlier stage or a registry image.
func (b *builder) from(ctx context.Context, s *stage) error {
	var base v1.Image
	switch prev := b.stageByRef(s.def.BaseName, s.index); {
	case strings.EqualFold(s.def.BaseName, "scratch"):
		base = empty.Image
		s.baseName = "scratch"
	case prev != nil:
		base = prev.image
		s.baseName = "stage " + prev.name
	default:
		if b.opts.Resolve == nil {
			return fmt.Errorf("no registry to fetch %s from", s.def.BaseName)
		}
		img, canonical, err := b.opts.Resolve(ctx, s.def.BaseName)
		if err != nil {
			return err
		}
		base, s.baseName = img, canonical
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading the config of %s: %w", s.def.BaseName, err)
	}
	layers, err := base.Layers()
	if err != nil {
		return err
	}
	if mt, err := base.MediaType(); err == nil && mt == types.OCIManifestSchema1 {
		s.ociBase = true
	}
	s.base, s.layers, s.cfg = base, layers, *cf.DeepCopy()
	s.history = append([]v1.History(nil), cf.History...)
	s.cfg.Config.Image = ""
	if len(s.cfg.Config.OnBuild) > 0 {
		fmt.Fprintf(b.opts.Out, "[WARNING]: the ONBUILD triggers of %s are not run: %q\n", s.def.BaseName, s.cfg.Config.OnBuild)
		s.cfg.Config.OnBuild = nil
	}
	if _, ok := envList(s.cfg.Config.Env).get("PATH"); !ok {
		s.cfg.Config.Env = append(s.cfg.Config.Env, "PATH="+defaultPath)
	}
	s.env = append(envList(nil), s.cfg.Config.Env...)
	s.fs = newFSIndex()
	return nil
}

// expand substitutes variables in an instruction as BuildKit does.
func (b *builder) expand(s *stage, c instructions.Command) error {
	if _, isArg := c.(*instructions.ArgCommand); isArg {
		return nil
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(func(word string) (string, error) {
			w, _, err := b.lex.ProcessWord(word, s.env.getter())
			return w, err
		}); err != nil {
			return err
		}
	}
	if ex, ok := c.(instructions.SupportsSingleWordExpansionRaw); ok {
		lex := shell.NewLex('\\')
		lex.SkipProcessQuotes = true
		if err := ex.ExpandRaw(func(word string) (string, error) {
			w, _, err := lex.ProcessWord(word, s.env.getter())
			return w, err
		}); err != nil {
			return err
		}
	}
	return nil
}

// record appends a history entry without a layer.
func (b *builder) record(s *stage, msg string) {
	s.history = append(s.history, v1.History{CreatedBy: msg, Comment: historyComment, EmptyLayer: true, Created: b.created()})
}

func (b *builder) created() v1.Time {
	if b.opts.Epoch != nil {
		return v1.Time{Time: b.opts.Epoch.UTC()}
	}
	return v1.Time{Time: time.Now().UTC().Truncate(time.Second)}
}

func (b *builder) dispatch(ctx context.Context, s *stage, c instructions.Command, label string) error {
	if err := b.expand(s, c); err != nil {
		return err
	}
	cfg := &s.cfg.Config
	switch c := c.(type) {
	case *instructions.EnvCommand:
		msg := "ENV"
		for _, kv := range c.Env {
			s.env = s.env.set(kv.Key, kv.Value)
			cfg.Env = envList(cfg.Env).set(kv.Key, kv.Value)
			msg += " " + kv.String()
		}
		b.record(s, msg)
	case *instructions.ArgCommand:
		return b.arg(s, c)
	case *instructions.LabelCommand:
		msg := "LABEL"
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
			msg += " " + kv.String()
		}
		b.record(s, msg)
	case *instructions.MaintainerCommand:
		s.cfg.Author = c.Maintainer
		b.record(s, "MAINTAINER "+c.Maintainer)
	case *instructions.CmdCommand:
		args := b.withShell(s, c.ShellDependantCmdLine)
		cfg.Cmd = args
		cfg.ArgsEscaped = true
		s.cmdSet = true
		b.record(s, fmt.Sprintf("CMD %q", args))
	case *instructions.EntrypointCommand:
		args := b.withShell(s, c.ShellDependantCmdLine)
		cfg.Entrypoint = args
		if !s.cmdSet {
			cfg.Cmd = nil
		}
		b.record(s, fmt.Sprintf("ENTRYPOINT %q", args))
	case *instructions.ExposeCommand:
		ports, err := parsePorts(c.Ports)
		if err != nil {
			return err
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
		b.record(s, fmt.Sprintf("EXPOSE %v", ports))
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if v == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
		b.record(s, fmt.Sprintf("VOLUME %v", c.Volumes))
	case *instructions.StopSignalCommand:
		if _, err := signal.ParseSignal(c.Signal); err != nil {
			return err
		}
		cfg.StopSignal = c.Signal
		b.record(s, "STOPSIGNAL "+c.Signal)
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
		b.record(s, fmt.Sprintf("SHELL %v", c.Shell))
	case *instructions.UserCommand:
		cfg.User = c.User
		b.record(s, "USER "+c.User)
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		b.record(s, fmt.Sprintf("HEALTHCHECK %+v", *h))
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.WorkdirCommand:
		return b.workdir(s, c, label)
	case *instructions.CopyCommand:
		return b.copy(ctx, s, c, label)
	case *instructions.AddCommand:
		return b.add(ctx, s, c, label)
	case *instructions.RunCommand:
		return b.run(ctx, s, c, label)
	default:
		return fmt.Errorf("%s is not supported by ctl image build", strings.ToUpper(c.Name()))
	}
	return nil
}

// withShell turns a shell-form command into the image's shell plus the
// command line.
func (b *builder) withShell(s *stage, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return append([]string(nil), c.CmdLine...)
	}
	sh := s.cfg.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string(nil), sh...), strings.Join(c.CmdLine, " "))
}

func (b *builder) arg(s *stage, c *instructions.ArgCommand) error {
	var parts []string
	for _, kv := range c.Args {
		if v, ok := b.opts.BuildArgs[kv.Key]; ok {
			kv.Value = &v
			b.usedArgs[kv.Key] = true
		} else if kv.Value != nil {
			v, _, err := b.lex.ProcessWord(*kv.Value, s.env.getter())
			if err != nil {
				return err
			}
			kv.Value = &v
		} else if v, ok := b.globals.get(kv.Key); ok {
			kv.Value = &v
		}
		if kv.Value != nil {
			s.env = s.env.set(kv.Key, *kv.Value)
		}
		s.buildArgs = append(s.buildArgs, kv)
		str := kv.Key
		if kv.Value != nil {
			str += "=" + *kv.Value
		}
		parts = append(parts, str)
	}
	b.record(s, "ARG "+strings.Join(parts, " "))
	return nil
}

// parsePorts normalizes EXPOSE arguments: 80, 80/udp, 8000-8002/tcp.
func parsePorts(in []string) ([]string, error) {
	var out []string
	for _, p := range in {
		port, proto, _ := strings.Cut(p, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("invalid proto: %s", proto)
		}
		lo, hi, isRange := strings.Cut(port, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid containerPort: %s", port)
		}
		z := a
		if isRange {
			if z, err = strconv.ParseUint(hi, 10, 16); err != nil || z < a {
				return nil, fmt.Errorf("invalid containerPort: %s", port)
			}
		}
		for n := a; n <= z; n++ {
			out = append(out, fmt.Sprintf("%d/%s", n, proto))
		}
	}
	return out, nil
}

// chainKey identifies the file tree of the layers so far.
func chainKey(layers []v1.Layer) (string, error) {
	parts := make([]string, 0, len(layers))
	for _, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return "", err
		}
		parts = append(parts, d.String())
	}
	return cacheKey(parts...), nil
}

// step runs a filesystem-changing step through the cache: make is called
// on a miss and returns the layer (nil for no change).
func (b *builder) step(s *stage, label string, key []string, createdBy string, make func(v int) (v1.Layer, error)) error {
	start := time.Now()
	v := b.begin(label)
	b.steps++
	parent, err := chainKey(s.layers)
	if err != nil {
		return err
	}
	// The epoch changes the times in a layer, so a layer made without one
	// cannot stand for one made with it.
	epoch := ""
	if b.opts.Epoch != nil {
		epoch = strconv.FormatInt(b.opts.Epoch.Unix(), 10)
	}
	k := cacheKey(append([]string{parent, epoch}, key...)...)
	var layer v1.Layer
	if l, emptyStep, ok := b.opts.Cache.Get(k); ok && !b.opts.NoCache {
		fmt.Fprintf(b.opts.Out, "#%d CACHED\n", v)
		b.cached++
		layer = l
		if emptyStep {
			layer = nil
		}
	} else {
		l, err := make(v)
		if err != nil {
			fmt.Fprintf(b.opts.Out, "#%d ERROR: %v\n", v, err)
			return err
		}
		layer, err = b.opts.Cache.Put(k, l, createdBy)
		if err != nil {
			return fmt.Errorf("writing the build cache: %w", err)
		}
		b.done(v, start)
	}
	h := v1.History{CreatedBy: createdBy, Comment: historyComment, Created: b.created()}
	if layer == nil {
		h.EmptyLayer = true
	} else {
		s.layers = append(s.layers, layer)
	}
	s.history = append(s.history, h)
	return nil
}

// layerOf turns copy items into a layer; no items means no layer.
func layerOf(items []copyItem) (v1.Layer, error) {
	if len(items) == 0 {
		return nil, nil
	}
	t, err := layerTar(items)
	if err != nil {
		return nil, err
	}
	return memLayer(t)
}

func (b *builder) workdir(s *stage, c *instructions.WorkdirCommand, label string) error {
	wd := c.Path
	if !path.IsAbs(wd) {
		cur := s.cfg.Config.WorkingDir
		if cur == "" {
			cur = "/"
		}
		wd = path.Join(cur, wd)
	}
	wd = path.Clean(wd)
	s.cfg.Config.WorkingDir = wd
	if wd == "/" {
		// Nothing to make: a step without a layer.
		v := b.begin(label + " WORKDIR /")
		b.steps++
		b.done(v, time.Now())
		b.record(s, "WORKDIR "+wd)
		return nil
	}
	if err := s.fs.update(s.layers); err != nil {
		return err
	}
	uid, gid := 0, 0
	if u := s.cfg.Config.User; u != "" {
		if a, g, err := s.fs.resolveUser(u); err == nil {
			uid, gid = a, g
		}
	}
	return b.step(s, label+" WORKDIR "+wd, []string{"WORKDIR", wd, strconv.Itoa(uid), strconv.Itoa(gid)}, "WORKDIR "+wd, func(int) (v1.Layer, error) {
		op := &copyOp{chown: true, uid: uid, gid: gid, epoch: b.opts.Epoch, exists: func(p string) bool { _, ok := s.fs.lookup(p); return ok }}
		if s.fs.isDir(wd) {
			return nil, nil
		}
		items := op.withParents([]copyItem{{hdr: op.header(cleanRel(wd), tar.TypeDir, 0o755, 0, time.Time{})}})
		return layerOf(items)
	})
}

// copyDest resolves a COPY destination against the WORKDIR, keeping a
// trailing slash.
func copyDest(workdir, dest string) string {
	if dest == "" || dest == "." {
		dest = "./"
	}
	trailing := strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.") || dest == "."
	if !path.IsAbs(dest) {
		if workdir == "" {
			workdir = "/"
		}
		dest = path.Join(workdir, dest)
	}
	dest = path.Clean(dest)
	if trailing && dest != "/" {
		dest += "/"
	}
	return dest
}

// copyCommand is what COPY and ADD share.
type copyCommand struct {
	name     string
	params   instructions.SourcesAndDest
	chown    string
	chmod    string
	from     string
	unpack   bool
	original string
}

func (b *builder) copy(ctx context.Context, s *stage, c *instructions.CopyCommand, label string) error {
	if c.Parents || len(c.ExcludePatterns) > 0 {
		return errors.New("COPY --parents and --exclude are not supported by ctl image build")
	}
	return b.copyLike(ctx, s, copyCommand{name: "COPY", params: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, from: c.From, original: c.String()}, label)
}

func (b *builder) add(ctx context.Context, s *stage, c *instructions.AddCommand, label string) error {
	for _, src := range c.SourcePaths {
		if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") || strings.HasPrefix(src, "git@") {
			return fmt.Errorf("ADD %s: builds in the lab have no network; download it beside the Dockerfile and ADD or COPY the file", src)
		}
	}
	if c.Checksum != "" || len(c.ExcludePatterns) > 0 {
		return errors.New("ADD --checksum and --exclude are not supported by ctl image build")
	}
	unpack := c.Unpack == nil || *c.Unpack
	return b.copyLike(ctx, s, copyCommand{name: "ADD", params: c.SourcesAndDest, chown: c.Chown, chmod: c.Chmod, unpack: unpack, original: c.String()}, label)
}

func (b *builder) copyLike(ctx context.Context, s *stage, c copyCommand, label string) error {
	if err := s.fs.update(s.layers); err != nil {
		return err
	}
	src := b.ignoreSrc
	fromKey := "context"
	if c.from != "" {
		root, key, err := b.fromSource(ctx, s, c.from)
		if err != nil {
			return err
		}
		src, fromKey = copySource{root: root}, key
	}
	chmod, err := parseChmod(c.chmod)
	if err != nil {
		return err
	}
	op := &copyOp{src: src, sources: c.params.SourcePaths, dest: copyDest(s.cfg.Config.WorkingDir, c.params.DestPath),
		chmod: chmod, unpack: c.unpack, epoch: b.opts.Epoch,
		isDir:  s.fs.isDir,
		exists: func(p string) bool { _, ok := s.fs.lookup(p); return ok }}
	for _, sc := range c.params.SourceContents {
		op.contents = append(op.contents, inlineFile{name: sc.Path, data: []byte(sc.Data)})
	}
	if c.chown != "" {
		uid, gid, err := s.fs.resolveUser(c.chown)
		if err != nil {
			return err
		}
		op.chown, op.uid, op.gid = true, uid, gid
	}
	msg := c.name
	if c.from != "" {
		msg += " --from=" + c.from
	}
	if c.chown != "" {
		msg += " --chown=" + c.chown
	}
	if c.chmod != "" {
		msg += " --chmod=" + c.chmod
	}
	for _, p := range c.params.SourcePaths {
		msg += " " + p
	}
	for _, p := range c.params.SourceContents {
		msg += " <<" + p.Path
	}
	msg += " " + c.params.DestPath + " # buildkit"
	items, err := op.items()
	if err != nil {
		v := b.begin(label + " " + c.original)
		fmt.Fprintf(b.opts.Out, "#%d ERROR: %v\n", v, err)
		return err
	}
	key := []string{c.name, fromKey, op.dest, contentHash(items)}
	return b.step(s, label+" "+c.original, key, msg, func(int) (v1.Layer, error) {
		return layerOf(items)
	})
}

// fromSource unpacks the file tree of COPY --from (a stage or an image)
// into a directory, once per build.
func (b *builder) fromSource(ctx context.Context, s *stage, from string) (string, string, error) {
	var layers []v1.Layer
	if prev := b.stageByRef(from, s.index); prev != nil {
		layers = prev.layers
	} else {
		if b.opts.Resolve == nil {
			return "", "", fmt.Errorf("COPY --from=%s: no such stage, and no registry to fetch it from", from)
		}
		img, _, err := b.opts.Resolve(ctx, from)
		if err != nil {
			return "", "", err
		}
		if layers, err = img.Layers(); err != nil {
			return "", "", err
		}
	}
	key, err := chainKey(layers)
	if err != nil {
		return "", "", err
	}
	if b.tmp == "" {
		if b.tmp, err = os.MkdirTemp(b.opts.TmpDir, "minik8s-build-"); err != nil {
			return "", "", err
		}
	}
	dir := filepath.Join(b.tmp, key[:16])
	if _, err := os.Stat(dir); err == nil {
		return dir, key, nil
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return "", "", err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	if err := extractTree(rc, dir); err != nil {
		return "", "", fmt.Errorf("unpacking the files of %s: %w", from, err)
	}
	return dir, key, nil
}

// run runs a RUN step on the runner.
func (b *builder) run(ctx context.Context, s *stage, c *instructions.RunCommand, label string) error {
	for _, f := range c.FlagsUsed {
		if f != "network" {
			return fmt.Errorf("RUN --%s is not supported by ctl image build", f)
		}
	}
	args := c.CmdLine
	name := c.String()
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return fmt.Errorf("parsing produced an invalid run command: %v", args)
		}
		if heredoc := parser.MustParseHeredoc(args[0]); heredoc != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			// A heredoc runs in the shell, also one with a #! line: there
			// is no mount to put a script file on.
			args = []string{data}
		} else {
			var sb strings.Builder
			sb.WriteString(args[0])
			for _, f := range c.Files {
				sb.WriteByte('\n')
				sb.WriteString(f.Data)
				sb.WriteString(f.Name)
			}
			args = []string{sb.String()}
		}
	}
	if c.PrependShell {
		args = b.withShell(s, instructions.ShellDependantCmdLine{CmdLine: args, PrependShell: true})
	}
	env := append(envList(nil), s.env...)
	if _, ok := env.get("PATH"); !ok {
		env = env.set("PATH", defaultPath)
	}
	wd := s.cfg.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	createdBy := "RUN " + runCommandString(args, s.buildArgs, s.env) + " # buildkit"
	key := []string{"RUN", strings.Join(args, "\x00"), strings.Join(env, "\x00"), wd, s.cfg.Config.User}
	return b.step(s, label+" "+name, key, createdBy, func(v int) (v1.Layer, error) {
		if b.opts.Runner == nil {
			return nil, errors.New("RUN needs the lab's containerd: is the lab up? (`ctl lab up`)")
		}
		out := &linePrefixer{w: b.opts.Out, prefix: fmt.Sprintf("#%d ", v), start: time.Now()}
		l, err := b.opts.Runner.Run(ctx, RunSpec{Args: args, Env: env, Cwd: wd, User: s.cfg.Config.User, Layers: s.layers, Output: out, Epoch: b.opts.Epoch})
		out.flush()
		var ee *ExitError
		if errors.As(err, &ee) && len(out.tail) > 0 {
			return nil, fmt.Errorf("%w; its last output:\n%s", err, strings.Join(out.tail, "\n"))
		}
		return l, err
	})
}

// runCommandString is the RUN history text, as BuildKit writes it: the
// stage's ARGs first as |N K=V…, then the command.
func runCommandString(args []string, buildArgs []instructions.KeyValuePairOptional, env envList) string {
	var tmp []string
	idx := map[string]int{}
	for _, a := range buildArgs {
		v, ok := env.get(a.Key)
		if !ok {
			v = a.ValueString()
		}
		if i, ok := idx[a.Key]; ok {
			tmp[i] = a.Key + "=" + v
		} else {
			idx[a.Key] = len(tmp)
			tmp = append(tmp, a.Key+"="+v)
		}
	}
	if len(tmp) > 0 {
		tmp = append([]string{fmt.Sprintf("|%d", len(tmp))}, tmp...)
	}
	return strings.Join(append(tmp, args...), " ")
}

// finish makes the stage's image: the base's layers and the new ones,
// the config as built, the history in order.
func (b *builder) finish(s *stage) error {
	n := 0
	if bl, err := s.base.Layers(); err == nil {
		n = len(bl)
	}
	base, layers, oci := s.base, s.layers[n:], s.ociBase
	if b.opts.OCI && !s.ociBase {
		// Same blobs, described with OCI media types.
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		layers, oci = s.layers, true
	}
	var adds []mutate.Addendum
	for _, l := range layers {
		a := mutate.Addendum{Layer: l}
		if oci {
			a.MediaType = types.OCILayer
			if mt, err := l.MediaType(); err == nil && (mt == types.DockerUncompressedLayer || mt == types.OCIUncompressedLayer) {
				a.MediaType = types.OCIUncompressedLayer
			}
		}
		adds = append(adds, a)
	}
	img, err := mutate.Append(base, adds...)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Config = s.cfg.Config
	cf.Author = s.cfg.Author
	cf.History = s.history
	cf.Created = b.created()
	cf.OS = "linux"
	cf.Architecture = runtime.GOARCH
	cf.Container = ""
	cf.DockerVersion = ""
	s.image, err = mutate.ConfigFile(img, cf)
	return err
}

// linePrefixer writes a RUN's output as BuildKit's plain progress does:
// #N SECONDS line.
type linePrefixer struct {
	w      io.Writer
	prefix string
	start  time.Time
	buf    []byte
	tail   []string
}

func (p *linePrefixer) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		p.line(string(p.buf[:i]))
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// tailLines is how much of a failed RUN's output its error repeats.
const tailLines = 10

func (p *linePrefixer) line(s string) {
	p.tail = append(p.tail, s)
	if len(p.tail) > tailLines {
		p.tail = p.tail[1:]
	}
	fmt.Fprintf(p.w, "%s%.3f %s\n", p.prefix, time.Since(p.start).Seconds(), s)
}

func (p *linePrefixer) flush() {
	if len(p.buf) > 0 {
		p.line(string(p.buf))
		p.buf = nil
	}
}
