package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus
// the build events go test adds).
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	ImportPath  string // build-output and build-fail
	FailedBuild string // a package's fail when its test binary did not build
}

// allowList holds the tests that may skip, by package and full test name.
type allowList map[string]bool

func allowKey(pkg, test string) string { return pkg + " " + test }

// parseAllowList reads `package TestName  # why` lines; blank lines and
// lines starting with # are comments. An entry without its why is refused:
// the list is read by people deciding whether a skip is still right.
func parseAllowList(r io.Reader) (allowList, error) {
	allowed := allowList{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry, why, _ := strings.Cut(line, "#")
		fields := strings.Fields(entry)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: got %q, want `package TestName  # why`", n, line)
		}
		if strings.TrimSpace(why) == "" {
			return nil, fmt.Errorf("line %d: %s %s has no `# why`: say why it may skip", n, fields[0], fields[1])
		}
		allowed[allowKey(fields[0], fields[1])] = true
	}
	return allowed, sc.Err()
}

// report follows the events of a run and prints as it goes.
type report struct {
	out     io.Writer
	allowed allowList
	tests   bool // a line per top-level test

	passed, failed, skipped int
	notAllowed              []string // skipped tests the allow-list does not name
	packages                map[string]*pkgRun
	builds                  map[string][]string // build output by import path
}

// pkgRun is one package's test binary while it runs.
type pkgRun struct {
	output     []string            // output outside any test
	running    map[string][]string // tests started and not ended, with their output
	testFailed bool
}

func newReport(out io.Writer, allowed allowList, tests bool) *report {
	return &report{out: out, allowed: allowed, tests: tests,
		packages: map[string]*pkgRun{}, builds: map[string][]string{}}
}

// read handles every event on r. Lines that are not JSON are printed as
// they are.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.handle(e)
	}
	return sc.Err()
}

func (r *report) pkg(name string) *pkgRun {
	p := r.packages[name]
	if p == nil {
		p = &pkgRun{running: map[string][]string{}}
		r.packages[name] = p
	}
	return p
}

func (r *report) handle(e event) {
	switch e.Action {
	case "build-output":
		r.builds[e.ImportPath] = append(r.builds[e.ImportPath], e.Output)
		return
	case "build-fail":
		r.print(r.builds[e.ImportPath])
		delete(r.builds, e.ImportPath)
		return
	}
	p := r.pkg(e.Package)
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.output = append(p.output, e.Output)
		case "pass", "fail", "skip":
			r.endPackage(e, p)
		}
		return
	}
	switch e.Action {
	case "run":
		p.running[e.Test] = nil
	case "output":
		if out, ok := p.running[e.Test]; ok {
			p.running[e.Test] = append(out, e.Output)
		} else {
			p.output = append(p.output, e.Output)
		}
	case "pass":
		r.passed++
		if r.tests && !strings.Contains(e.Test, "/") {
			fmt.Fprintf(r.out, "--- PASS: %s (%.2fs)\n", e.Test, e.Elapsed)
		}
		delete(p.running, e.Test)
	case "skip":
		r.skipped++
		r.print(testOutput(p.running[e.Test]))
		if !r.allowed[allowKey(e.Package, e.Test)] {
			r.notAllowed = append(r.notAllowed, allowKey(e.Package, e.Test))
			fmt.Fprintf(r.out, "    %s %s skipped and is not on the allow-list\n", e.Package, e.Test)
		}
		delete(p.running, e.Test)
	case "fail":
		r.failed++
		p.testFailed = true
		r.print(testOutput(p.running[e.Test]))
		delete(p.running, e.Test)
	}
}

// endPackage closes a package: a test still running when its binary ended
// (a timeout, a crash, os.Exit) failed; a failed package prints all it
// said outside its tests, a passed one only its result line.
func (r *report) endPackage(e event, p *pkgRun) {
	names := make([]string, 0, len(p.running))
	for name := range p.running {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r.failed++
		p.testFailed = true
		r.print(testOutput(p.running[name]))
		fmt.Fprintf(r.out, "--- FAIL: %s (did not end: the test binary stopped while it ran)\n", name)
	}
	if e.Action == "fail" {
		if !p.testFailed {
			// The package failed without a failing test: a build error,
			// TestMain, or a crash between tests. Count it, or a run
			// whose tests never ran would add up to zero failures.
			r.failed++
		}
		r.print(testOutput(p.output))
	} else {
		for _, line := range p.output {
			if strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "? ") {
				r.print([]string{line})
			}
		}
	}
	delete(r.packages, e.Package)
}

// finish closes the packages whose end never came, prints the skips that
// are not allowed and the closing line, and reports whether the run is
// good.
func (r *report) finish() bool {
	names := make([]string, 0, len(r.packages))
	for name := range r.packages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(r.out, "FAIL\t%s\t(the output ended before the package did)\n", name)
		r.endPackage(event{Action: "fail", Package: name}, r.packages[name])
	}
	ok := r.failed == 0 && len(r.notAllowed) == 0
	if len(r.notAllowed) > 0 {
		fmt.Fprintf(r.out, "\n%d tests skipped that the allow-list does not name; make them run, or add them with a reason:\n", len(r.notAllowed))
		for _, k := range r.notAllowed {
			fmt.Fprintf(r.out, "    %s\n", k)
		}
	}
	if r.passed+r.failed+r.skipped == 0 {
		fmt.Fprintln(r.out, "\nno test ran")
		ok = false
	}
	fmt.Fprintf(r.out, "\n%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	return ok
}

// testOutput drops the framing lines go test -json adds for every test,
// which plain go test does not print.
func testOutput(lines []string) []string {
	var out []string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "=== RUN "), strings.HasPrefix(l, "=== PAUSE "),
			strings.HasPrefix(l, "=== CONT "), strings.HasPrefix(l, "=== NAME "):
			continue
		}
		out = append(out, l)
	}
	return out
}

func (r *report) print(lines []string) {
	for _, l := range lines {
		io.WriteString(r.out, l)
		if !strings.HasSuffix(l, "\n") {
			io.WriteString(r.out, "\n")
		}
	}
}
