// Command summary reads the JUnit report Kubernetes' e2e.test writes
// (<report-dir>/junit_01.xml) and prints a markdown summary: passed,
// failed and skipped specs per SIG (the first [sig-…] tag of each spec's
// name), and each failure's first line, grouped by what the runner can tell
// of its cause on a minik8s lab: an image the lab registry does not hold,
// a pod or Service address the host cannot reach (the lab's network rule),
// or anything else.
//
//	go run ./summary -junit /tmp/conformance/report/junit_01.xml -o summary.md
package main

import (
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
)

// testCase is the part of a ginkgo JUnit <testcase> the summary needs.
type testCase struct {
	Name    string `xml:"name,attr"`
	Status  string `xml:"status,attr"`
	Time    string `xml:"time,attr"`
	Failure *struct {
		Type string `xml:"type,attr"`
		Body string `xml:",chardata"`
	} `xml:"failure"`
	Error *struct {
		Type string `xml:"type,attr"`
		Body string `xml:",chardata"`
	} `xml:"error"`
	Skipped *struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
	SystemErr string `xml:"system-err"`
}

type testSuites struct {
	Suites []struct {
		Cases []testCase `xml:"testcase"`
	} `xml:"testsuite"`
}

// Cause is what a failure is put down to.
type Cause int

const (
	// CauseOther is a failure of minik8s (or of a test) to look into.
	CauseOther Cause = iota
	// CauseImage is a pod that could not pull its image: the lab has no
	// internet and its registry holds only what run.sh put there.
	CauseImage
	// CauseHostNetwork is e2e.test, on the host, dialling a pod or
	// Service address, which the lab's network rule makes unreachable
	// from the root namespace.
	CauseHostNetwork
	// CauseSuiteTimeout is a spec cut short by ginkgo's --timeout: it
	// says nothing of the spec.
	CauseSuiteTimeout
	// CauseStandIn is a command the test runs in a container that the
	// lab's stand-in image lacks or has in a smaller form (busybox's nc
	// without -v, no curl or dig: see images/).
	CauseStandIn
)

// rank orders the summary's groups: what the lab cannot give first, then
// what was cut short, then what is left to look into.
var rank = map[Cause]int{CauseImage: 0, CauseStandIn: 1, CauseHostNetwork: 2, CauseSuiteTimeout: 3, CauseOther: 4}

func (c Cause) String() string {
	switch c {
	case CauseImage:
		return "needs an image the lab registry does not hold"
	case CauseHostNetwork:
		return "dials a pod or Service IP from the host (the lab's network rule forbids it)"
	case CauseStandIn:
		return "runs a command the stand-in image lacks"
	case CauseSuiteTimeout:
		return "cut short by the suite timeout"
	}
	return "other"
}

// Failure is one failed spec.
type Failure struct {
	Name      string
	SIG       string
	Type      string // failed, timedout, panicked, interrupted, aborted
	FirstLine string
	Cause     Cause
	Detail    string // the image, or the address dialled
}

// Counts are the specs of one SIG.
type Counts struct{ Passed, Failed, Skipped int }

// Summary is a whole report.
type Summary struct {
	SIGs  map[string]*Counts
	Total Counts // specs ([It]) only
	// Suite are the suite's setup and report nodes (SynchronizedBeforeSuite
	// on each process, ReportAfterSuite, …): not specs, but their failures
	// are listed.
	Suite       Counts
	NotSelected int            // not run: outside the focus, or left when the suite timed out
	SkipReasons map[string]int // first line of each Skip's reason
	Failures    []Failure
}

var (
	sigRE = regexp.MustCompile(`\[(sig-[a-z0-9-]+)\]`)
	// pullRE finds a pull failure in the failure text or the spec's
	// timeline (events and the framework's pod dumps).
	pullRE = regexp.MustCompile(`ErrImagePull|ImagePullBackOff|ErrImageNeverPull|[Ff]ailed to pull image|[Bb]ack-off pulling image`)
	// imageRE names the image of a pull failure when the text does.
	imageRE = regexp.MustCompile(`(?:[Pp]ull(?:ing)? image|[Bb]ack-off pulling image) \\?"([^"\\\s]+)\\?"`)
	// toolRE finds a command of the test's container failing for want of
	// the tool: busybox's usage error or a shell's "not found".
	toolRE = regexp.MustCompile(`(\w[\w.-]*): (?:invalid option -- '?\w'?|unrecognized option[^\n]*|applet not found|not found)`)
	// dialRE finds addresses dialled by the test process.
	dialRE = regexp.MustCompile(`(?:dial (?:tcp|udp) |https?://)(\d+\.\d+\.\d+\.\d+)`)
)

// Summarize reads a JUnit report; unreachable are the networks the host
// cannot reach (the lab's pod and Service CIDRs).
func Summarize(r io.Reader, unreachable []*net.IPNet) (*Summary, error) {
	var ts testSuites
	if err := xml.NewDecoder(r).Decode(&ts); err != nil {
		return nil, fmt.Errorf("reading the JUnit report: %w", err)
	}
	s := &Summary{SIGs: map[string]*Counts{}, SkipReasons: map[string]int{}}
	for _, suite := range ts.Suites {
		for _, tc := range suite.Cases {
			s.add(tc, unreachable)
		}
	}
	sort.Slice(s.Failures, func(i, j int) bool {
		if ri, rj := rank[s.Failures[i].Cause], rank[s.Failures[j].Cause]; ri != rj {
			return ri < rj
		}
		return s.Failures[i].Name < s.Failures[j].Name
	})
	return s, nil
}

func (s *Summary) add(tc testCase, unreachable []*net.IPNet) {
	sig := "(none)"
	if m := sigRE.FindStringSubmatch(tc.Name); m != nil {
		sig = m[1]
	}
	// ginkgo names a spec "[It] …" and a suite node by its type:
	// "[SynchronizedBeforeSuite]", "[ReportAfterSuite] …".
	spec := strings.HasPrefix(tc.Name, "[It] ")
	count := func(f func(*Counts)) {
		if !spec {
			f(&s.Suite)
			return
		}
		c := s.SIGs[sig]
		if c == nil {
			c = &Counts{}
			s.SIGs[sig] = c
		}
		f(c)
		f(&s.Total)
	}
	switch {
	case tc.Failure != nil || tc.Error != nil:
		typ, body := "", ""
		if tc.Failure != nil {
			typ, body = tc.Failure.Type, tc.Failure.Body
		} else {
			typ, body = tc.Error.Type, tc.Error.Body
		}
		if typ == "" {
			typ = tc.Status
		}
		f := Failure{Name: tc.Name, SIG: sig, Type: typ, FirstLine: firstLine(body)}
		f.Cause, f.Detail = classify(body+"\n"+tc.SystemErr, unreachable)
		if f.Cause == CauseOther && f.FirstLine == "A suite timeout occurred" {
			f.Cause = CauseSuiteTimeout
		}
		s.Failures = append(s.Failures, f)
		count(func(c *Counts) { c.Failed++ })
	case tc.Skipped != nil:
		// ginkgo reports the specs its filters left out as skipped with
		// the bare message "skipped"; a spec that ran and called Skip
		// has "skipped - <reason>", and pending ones "pending".
		if tc.Skipped.Message == "skipped" || tc.Skipped.Message == "pending" {
			s.NotSelected++
			return
		}
		s.SkipReasons[firstLine(strings.TrimPrefix(tc.Skipped.Message, "skipped - "))]++
		count(func(c *Counts) { c.Skipped++ })
	default:
		count(func(c *Counts) { c.Passed++ })
	}
}

// firstLine is the first non-empty line of a failure, without ginkgo's
// "[FAILED] " (or [TIMEDOUT], [PANICKED], …) marker. When that line is
// only gomega's lead-in ("Timed out after 120.001s.", "expected … in
// container output: Expected"), the next lines are joined to it until it
// says something, up to leadIn characters.
func firstLine(body string) string {
	var out string
	for _, l := range strings.Split(body, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "In [") {
			continue
		}
		if out == "" {
			l = strings.TrimSpace(markerRE.ReplaceAllString(l, ""))
		}
		if out == "" {
			out = l
		} else {
			out += " " + l
		}
		if !leadInRE.MatchString(out) || len(out) >= leadIn {
			break
		}
	}
	if out == "" {
		return "(no message)"
	}
	if len(out) > 2*leadIn {
		out = out[:2*leadIn] + "…"
	}
	return out
}

const leadIn = 120

// markerRE is ginkgo's state marker at the start of a failure.
var markerRE = regexp.MustCompile(`^\[[A-Z]+\] `)

// leadInRE matches a failure text that has not said what failed yet.
var leadInRE = regexp.MustCompile(`(?:Expected|Timed out after [0-9.]+s\.|:|Unexpected error:|<[^>]*>)$`)

// classify puts a failure down to a cause from its text and timeline.
func classify(text string, unreachable []*net.IPNet) (Cause, string) {
	if pullRE.MatchString(text) {
		if m := imageRE.FindStringSubmatch(text); m != nil {
			return CauseImage, m[1]
		}
		return CauseImage, "(image not named in the report)"
	}
	if m := toolRE.FindStringSubmatch(text); m != nil {
		return CauseStandIn, strings.TrimSpace(m[0])
	}
	for _, m := range dialRE.FindAllStringSubmatch(text, -1) {
		ip := net.ParseIP(m[1])
		for _, n := range unreachable {
			if ip != nil && n.Contains(ip) {
				return CauseHostNetwork, m[1]
			}
		}
	}
	return CauseOther, ""
}

// Markdown writes the summary.
func (s *Summary) Markdown(w io.Writer, title string) {
	ran := s.Total.Passed + s.Total.Failed + s.Total.Skipped
	fmt.Fprintf(w, "# %s\n\n", title)
	fmt.Fprintf(w, "%d specs ran: **%d passed, %d failed, %d skipped** (%d not run: outside the focus, or left at the suite timeout); suite setup and report nodes: %d passed, %d failed.\n\n",
		ran, s.Total.Passed, s.Total.Failed, s.Total.Skipped, s.NotSelected, s.Suite.Passed, s.Suite.Failed)
	sigs := make([]string, 0, len(s.SIGs))
	for sig := range s.SIGs {
		sigs = append(sigs, sig)
	}
	sort.Strings(sigs)
	fmt.Fprintln(w, "| SIG | passed | failed | skipped |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, sig := range sigs {
		c := s.SIGs[sig]
		fmt.Fprintf(w, "| %s | %d | %d | %d |\n", sig, c.Passed, c.Failed, c.Skipped)
	}
	fmt.Fprintf(w, "| **all** | %d | %d | %d |\n", s.Total.Passed, s.Total.Failed, s.Total.Skipped)
	if len(s.SkipReasons) > 0 {
		reasons := make([]string, 0, len(s.SkipReasons))
		for r := range s.SkipReasons {
			reasons = append(reasons, r)
		}
		sort.Slice(reasons, func(i, j int) bool {
			if s.SkipReasons[reasons[i]] != s.SkipReasons[reasons[j]] {
				return s.SkipReasons[reasons[i]] > s.SkipReasons[reasons[j]]
			}
			return reasons[i] < reasons[j]
		})
		fmt.Fprintf(w, "\n## Skipped (reason: specs)\n\n")
		for _, r := range reasons {
			fmt.Fprintf(w, "- %s: %d\n", escape(r), s.SkipReasons[r])
		}
	}
	if len(s.Failures) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Failures\n")
	last := Cause(-1)
	for _, f := range s.Failures {
		if f.Cause != last {
			n := 0
			for _, g := range s.Failures {
				if g.Cause == f.Cause {
					n++
				}
			}
			fmt.Fprintf(w, "\n### %s (%d)\n\n", f.Cause, n)
			last = f.Cause
		}
		detail := ""
		if f.Detail != "" {
			detail = " `" + f.Detail + "`"
		}
		fmt.Fprintf(w, "- %s%s (%s): %s\n", escape(f.Name), detail, f.Type, escape(f.FirstLine))
	}
}

// escape keeps a spec name's brackets and pipes from being read as
// markdown links or table cells.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, "|", `\|`, "*", `\*`, "_", `\_`, "<", "&lt;").Replace(s)
}

func main() {
	junit := flag.String("junit", "", "the JUnit report (e2e.test's <report-dir>/junit_01.xml)")
	out := flag.String("o", "", "write the markdown here (default: standard output)")
	title := flag.String("title", "Conformance run", "the summary's heading")
	cidrs := flag.String("unreachable", "10.244.0.0/16,10.96.0.0/16", "networks the host cannot reach (the lab's pod and Service CIDRs), comma-separated")
	flag.Parse()
	if *junit == "" {
		fmt.Fprintln(os.Stderr, "summary: -junit is required")
		os.Exit(2)
	}
	var nets []*net.IPNet
	for _, c := range strings.Split(*cidrs, ",") {
		if c = strings.TrimSpace(c); c == "" {
			continue
		}
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "summary: -unreachable: %v\n", err)
			os.Exit(2)
		}
		nets = append(nets, n)
	}
	f, err := os.Open(*junit)
	if err != nil {
		fmt.Fprintf(os.Stderr, "summary: %v\n", err)
		os.Exit(1)
	}
	defer f.Close()
	s, err := Summarize(f, nets)
	if err != nil {
		fmt.Fprintf(os.Stderr, "summary: %v\n", err)
		os.Exit(1)
	}
	w := io.Writer(os.Stdout)
	if *out != "" {
		o, err := os.Create(*out)
		if err != nil {
			fmt.Fprintf(os.Stderr, "summary: %v\n", err)
			os.Exit(1)
		}
		defer o.Close()
		w = o
	}
	s.Markdown(w, *title)
}
