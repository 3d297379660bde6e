// Command imagebuild measures `ctl image build` on the lab (issue 16's
// figures). As root, with a lab up (`ctl lab up`):
//
//	go run ./bench/imagebuild [-mb 50] [-runs 3]
//
// It builds the six-instruction Dockerfile from a fresh context
// and an empty layer cache:
//
//	FROM minik8s/toolbox
//	WORKDIR /app
//	COPY requirements.txt .
//	RUN dd if=/dev/urandom of=deps.bin bs=1048576 count=MB   (incompressible)
//	COPY app.sh .
//	CMD ["sh", "app.sh"]
//
// and reports, per run (best and median of -runs):
//
//   - cold: build with an empty cache (every step runs), then the push;
//   - the RUN step alone (its container, unpack and diff) as the builder
//     timed it, and the same command run directly on this machine (the
//     floor: what the step itself costs);
//   - rebuild after changing app.sh (all steps before it CACHED, one
//     layer rebuilt), then the push;
//   - the pushed size (compressed layers + config).
//
// The goals of the issue: cached rebuild ≤ 1 s; cold build ≤ 1.5 × (the
// RUN itself + the copy).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"minik8s/pkg/imagebuild"
)

const registry = "10.200.0.1:5000"

func main() {
	mb := flag.Int("mb", 50, "megabytes the RUN writes")
	runs := flag.Int("runs", 3, "repetitions")
	labDir := flag.String("lab-dir", filepath.Join(os.Getenv("HOME"), ".minik8s", "lab"), "the lab's state directory")
	verbose := flag.Bool("v", false, "print the builds' progress")
	flag.Parse()
	if err := run(*mb, *runs, *labDir, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

type sample struct {
	cold, coldPush, runStep, direct, warm, warmPush time.Duration
	size                                            int64
	cached, steps                                   int
}

func run(mb, runs int, labDir string, verbose bool) error {
	ctx := context.Background()
	var all []sample
	for i := 0; i < runs; i++ {
		s, err := once(ctx, mb, labDir, verbose, i)
		if err != nil {
			return err
		}
		all = append(all, s)
	}
	pick := func(f func(sample) time.Duration) (time.Duration, time.Duration) {
		var v []time.Duration
		for _, s := range all {
			v = append(v, f(s))
		}
		sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
		return v[0], v[len(v)/2]
	}
	show := func(name string, f func(sample) time.Duration) {
		b, m := pick(f)
		fmt.Printf("%-42s best %7.3fs  median %7.3fs\n", name, b.Seconds(), m.Seconds())
	}
	fmt.Printf("imagebuild: %d runs, RUN writes %d MB of random data\n", runs, mb)
	show("cold build (empty cache)", func(s sample) time.Duration { return s.cold })
	show("  of which the RUN step", func(s sample) time.Duration { return s.runStep })
	show("  the RUN's command run directly", func(s sample) time.Duration { return s.direct })
	show("cold push", func(s sample) time.Duration { return s.coldPush })
	show("rebuild after changing app.sh", func(s sample) time.Duration { return s.warm })
	show("rebuild push", func(s sample) time.Duration { return s.warmPush })
	fmt.Printf("%-42s %d of %d steps\n", "rebuild cache hits", all[0].cached, all[0].steps)
	fmt.Printf("%-42s %.1f MB\n", "pushed size (compressed layers + config)", float64(all[0].size)/1e6)
	_, coldMed := pick(func(s sample) time.Duration { return s.cold })
	_, runMed := pick(func(s sample) time.Duration { return s.direct })
	_, warmMed := pick(func(s sample) time.Duration { return s.warm })
	fmt.Printf("goal cached rebuild <= 1s: %v (median %.3fs)\n", warmMed <= time.Second, warmMed.Seconds())
	fmt.Printf("cold build / direct RUN: %.2fx (goal <= 1.5x)\n", coldMed.Seconds()/runMed.Seconds())
	return nil
}

func once(ctx context.Context, mb int, labDir string, verbose bool, i int) (sample, error) {
	var s sample
	dir, err := os.MkdirTemp("", "bench-imagebuild-")
	if err != nil {
		return s, err
	}
	defer os.RemoveAll(dir)
	ctxDir := filepath.Join(dir, "context")
	os.MkdirAll(ctxDir, 0o755)
	runCmd := fmt.Sprintf("dd if=/dev/urandom of=deps.bin bs=1048576 count=%d", mb)
	files := map[string]string{
		"Dockerfile":       fmt.Sprintf("FROM minik8s/toolbox\nWORKDIR /app\nCOPY requirements.txt .\nRUN %s\nCOPY app.sh .\nCMD [\"sh\", \"app.sh\"]\n", runCmd),
		"requirements.txt": "flask==3.0\n",
		"app.sh":           "echo v1\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(ctxDir, n), []byte(c), 0o644); err != nil {
			return s, err
		}
	}
	runner, err := imagebuild.NewContainerdRunner(filepath.Join(labDir, "containerd", "containerd.sock"))
	if err != nil {
		return s, err
	}
	defer runner.Close()
	var out io.Writer = io.Discard
	if verbose {
		out = os.Stdout
	}
	progress := &stepTimes{w: out}
	cache := &imagebuild.Cache{Dir: filepath.Join(dir, "cache")}
	runner.LayerDir = cache.TmpDir()
	opts := imagebuild.Options{ContextDir: ctxDir, Resolve: imagebuild.RegistryResolver(registry), Runner: runner,
		Cache: cache, Out: progress}
	ref, err := imagebuild.LabRef(registry, fmt.Sprintf("bench/imagebuild:run%d", i))
	if err != nil {
		return s, err
	}

	start := time.Now()
	res, err := imagebuild.Build(ctx, opts)
	if err != nil {
		return s, err
	}
	s.cold = time.Since(start)
	s.runStep = progress.step("RUN")
	start = time.Now()
	if err := remote.Write(ref, res.Image, remote.WithContext(ctx)); err != nil {
		return s, err
	}
	s.coldPush = time.Since(start)
	if m, err := res.Image.Manifest(); err == nil {
		s.size = m.Config.Size
		for _, l := range m.Layers {
			s.size += l.Size
		}
	}

	// The RUN's command on this machine, in a directory on the same disk.
	start = time.Now()
	cmd := exec.Command("/bin/busybox", "sh", "-c", runCmd)
	cmd.Dir = dir
	if err := cmd.Run(); err != nil {
		return s, fmt.Errorf("running %q directly: %w", runCmd, err)
	}
	s.direct = time.Since(start)

	if err := os.WriteFile(filepath.Join(ctxDir, "app.sh"), []byte("echo v2\n"), 0o644); err != nil {
		return s, err
	}
	start = time.Now()
	res, err = imagebuild.Build(ctx, opts)
	if err != nil {
		return s, err
	}
	s.warm = time.Since(start)
	s.cached, s.steps = res.Cached, res.Steps
	start = time.Now()
	if err := remote.Write(ref, res.Image, remote.WithContext(ctx)); err != nil {
		return s, err
	}
	s.warmPush = time.Since(start)
	return s, nil
}

// stepTimes reads the builder's progress and keeps each step's DONE time.
type stepTimes struct {
	w     io.Writer
	buf   strings.Builder
	names map[string]string
	times map[string]time.Duration
}

func (p *stepTimes) Write(b []byte) (int, error) {
	p.w.Write(b)
	p.buf.Write(b)
	if p.names == nil {
		p.names, p.times = map[string]string{}, map[string]time.Duration{}
	}
	for {
		s := p.buf.String()
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		line := s[:i]
		p.buf.Reset()
		p.buf.WriteString(s[i+1:])
		var v int
		var rest string
		if n, _ := fmt.Sscanf(line, "#%d", &v); n != 1 {
			continue
		}
		rest = strings.TrimSpace(strings.TrimPrefix(line, fmt.Sprintf("#%d", v)))
		key := fmt.Sprint(v)
		if strings.HasPrefix(rest, "[") {
			if j := strings.Index(rest, "] "); j > 0 {
				p.names[key] = strings.Fields(rest[j+2:])[0]
			}
		}
		var secs float64
		if n, _ := fmt.Sscanf(rest, "DONE %fs", &secs); n == 1 {
			p.times[p.names[key]] += time.Duration(secs * float64(time.Second))
		}
	}
	return len(b), nil
}

func (p *stepTimes) step(name string) time.Duration { return p.times[name] }
