package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The streams in testdata were captured from go1.26 `go test -json` (times
// dropped, goroutine dumps cut): mixed.json has a passing package, one with
// a passing, a failing and a skipped test and subtests (one skipped), one
// that does not build and one without tests; crash.json has a test that
// calls os.Exit and one stopped by -timeout, which never gets its end
// event.
func stream(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// only keeps the lines of a stream that mention one of the given strings.
func only(s string, keep ...string) string {
	var out []string
	for _, line := range strings.SplitAfter(s, "\n") {
		for _, k := range keep {
			if strings.Contains(line, k) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "")
}

// skipOnly is a package of one test that skips.
func skipOnly(pkg string) string {
	return fmt.Sprintf(`{"Action":"start","Package":%[1]q}
{"Action":"run","Package":%[1]q,"Test":"TestSkip"}
{"Action":"output","Package":%[1]q,"Test":"TestSkip","Output":"=== RUN   TestSkip\n"}
{"Action":"output","Package":%[1]q,"Test":"TestSkip","Output":"    a_test.go:7: not today\n"}
{"Action":"output","Package":%[1]q,"Test":"TestSkip","Output":"--- SKIP: TestSkip (0.00s)\n"}
{"Action":"skip","Package":%[1]q,"Test":"TestSkip","Elapsed":0}
{"Action":"output","Package":%[1]q,"Output":"PASS\n"}
{"Action":"output","Package":%[1]q,"Output":"ok  \t%[1]s\t0.002s\n"}
{"Action":"pass","Package":%[1]q,"Elapsed":0.003}
`, pkg)
}

func TestReport(t *testing.T) {
	mixed, crash := stream(t, "mixed.json"), stream(t, "crash.json")
	bothSkips := allowList{"tr/a TestSkip": true, "tr/a TestSub/skipped": true}
	tests := []struct {
		name                    string
		in                      string
		allowed                 allowList
		passed, failed, skipped int
		ok                      bool
		notAllowed              int
		says, never             []string
	}{
		{
			name: "pass, fail, skips, a build failure, no test files", in: mixed,
			passed: 4, failed: 2, skipped: 2, notAllowed: 2,
			says: []string{"ok  \ttr/b\t", "a_test.go:6: boom", "--- FAIL: TestFail", "a_test.go:7: not today",
				"tr/a TestSkip skipped and is not on the allow-list", "cannot use \"x\"", "FAIL\ttr/c [build failed]",
				"?   \ttr/d\t[no test files]", "FAIL\ttr/a\t"},
			never: []string{"=== RUN", "a_test.go:5: hello", "PASS\n"},
		},
		{
			name: "allowed skips do not excuse failures", in: mixed, allowed: bothSkips,
			passed: 4, failed: 2, skipped: 2,
		},
		{
			name: "a passing package", in: only(mixed, `"tr/b"`),
			passed: 1, ok: true,
			says: []string{"ok  \ttr/b\t0.002s\n"}, never: []string{"TestB"},
		},
		{
			name: "a skip not on the list fails the run", in: only(mixed, `"tr/b"`, `"tr/d"`) + skipOnly("tr/a"),
			allowed: allowList{"tr/a TestOther": true},
			passed:  1, skipped: 1, notAllowed: 1,
			says: []string{"not on the allow-list", "    tr/a TestSkip\n"},
		},
		{
			name: "an allowed skip passes", in: only(mixed, `"tr/b"`) + skipOnly("tr/a"), allowed: bothSkips,
			passed: 1, skipped: 1, ok: true,
			says: []string{"not today"}, never: []string{"allow-list"},
		},
		{
			name: "the same test name in another package is not allowed",
			in:   skipOnly("tr/x"), allowed: bothSkips,
			skipped: 1, notAllowed: 1,
		},
		{
			name: "a build failure alone", in: only(mixed, `tr/c`),
			failed: 1,
			says:   []string{"# tr/c [tr/c.test]", "FAIL\ttr/c [build failed]"},
		},
		{
			name: "os.Exit in a test and a timeout", in: crash,
			passed: 1, failed: 2,
			says: []string{"unexpected call to os.Exit", "panic: test timed out after 1s",
				"--- FAIL: TestSlow (did not end", "FAIL\ttr/f\t1.005s"},
		},
		{
			name: "a stream cut while a test runs", in: only(crash, `"tr/e"`, `"run","Package":"tr/f"`),
			passed: 1, failed: 2,
			says: []string{"FAIL\ttr/f\t(the output ended before the package did)", "--- FAIL: TestSlow (did not end"},
		},
		{
			name: "a package that fails outside its tests",
			in: `{"Action":"start","Package":"tr/m"}
{"Action":"output","Package":"tr/m","Output":"TestMain: setting up: no such file\n"}
{"Action":"output","Package":"tr/m","Output":"FAIL\ttr/m\t0.001s\n"}
{"Action":"fail","Package":"tr/m","Elapsed":0.001}
`,
			failed: 1,
			says:   []string{"TestMain: setting up: no such file"},
		},
		{
			name: "no tests at all", in: only(mixed, `tr/d`),
			says: []string{"no test ran"},
		},
		{
			name: "lines that are not JSON are printed", in: "go: downloading example.com/x v1.0.0\n" + only(mixed, `"tr/b"`),
			passed: 1, ok: true,
			says: []string{"go: downloading example.com/x v1.0.0\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := newReport(&out, tt.allowed, false)
			if err := r.read(strings.NewReader(tt.in)); err != nil {
				t.Fatal(err)
			}
			ok := r.finish()
			if r.passed != tt.passed || r.failed != tt.failed || r.skipped != tt.skipped {
				t.Errorf("got %d passed, %d failed, %d skipped; want %d, %d, %d",
					r.passed, r.failed, r.skipped, tt.passed, tt.failed, tt.skipped)
			}
			if ok != tt.ok {
				t.Errorf("finish: got %v, want %v", ok, tt.ok)
			}
			if len(r.notAllowed) != tt.notAllowed {
				t.Errorf("got %d skips not allowed (%v), want %d", len(r.notAllowed), r.notAllowed, tt.notAllowed)
			}
			s := out.String()
			last := fmt.Sprintf("\n%d passed, %d failed, %d skipped\n", tt.passed, tt.failed, tt.skipped)
			if !strings.HasSuffix(s, last) {
				t.Errorf("output does not end with %q:\n%s", last, s)
			}
			for _, want := range tt.says {
				if !strings.Contains(s, want) {
					t.Errorf("output lacks %q:\n%s", want, s)
				}
			}
			for _, not := range tt.never {
				if strings.Contains(s, not) {
					t.Errorf("output has %q:\n%s", not, s)
				}
			}
		})
	}
}

func TestReportTestsFlag(t *testing.T) {
	var out bytes.Buffer
	r := newReport(&out, nil, true)
	if err := r.read(strings.NewReader(only(stream(t, "mixed.json"), `"tr/a"`))); err != nil {
		t.Fatal(err)
	}
	r.finish()
	s := out.String()
	for _, want := range []string{"--- PASS: TestPass (0.00s)\n", "--- PASS: TestSub (0.00s)\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("with -tests, output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "--- PASS: TestSub/ok_one") {
		t.Errorf("with -tests, subtests got a line of their own:\n%s", s)
	}
}

func TestParseAllowList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{
			name: "entries, comments and blank lines",
			in:   "# tests that may skip\n\nminik8s/pkg/kubelet TestRealFigures  # a measurement\n  p  T/sub_test # why\n",
			want: []string{"minik8s/pkg/kubelet TestRealFigures", "p T/sub_test"},
		},
		{name: "no reason", in: "p TestX\n", wantErr: "line 1: p TestX has no `# why`"},
		{name: "empty reason", in: "\np TestX #   \n", wantErr: "line 2: p TestX has no `# why`"},
		{name: "test name missing", in: "p  # why\n", wantErr: "line 1: got"},
		{name: "three fields", in: "p TestX TestY # why\n", wantErr: "line 1: got"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAllowList(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d entries %v, want %v", len(got), got, tt.want)
			}
			for _, k := range tt.want {
				if !got[k] {
					t.Errorf("entry %q missing from %v", k, got)
				}
			}
		})
	}
}

// The project's own allow-list must parse: run-tests.sh depends on it.
func TestProjectAllowList(t *testing.T) {
	f, err := os.Open("../test-skips.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := parseAllowList(f); err != nil {
		t.Fatal(err)
	}
}
