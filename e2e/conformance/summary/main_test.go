package main

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// report is the shape e2e.test's junit_01.xml has (ginkgo v2's JUnit
// reporter with the framework's config: no message attribute, the
// failure's text as the element's body, the timeline in system-err).
const report = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="7" disabled="0" errors="1" failures="4" time="12.5">
  <testsuite name="Kubernetes e2e suite" package="/" tests="7">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1.2"></testcase>
    <testcase name="[It] [sig-api-machinery] Namespaces [Serial] should patch a Namespace [Conformance]" classname="Kubernetes e2e suite" status="passed" time="0.3"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="failed" time="300">
      <failure type="failed">[FAILED] failed to start pod: Timed out after 300s.&#xA;Expected pod to be running&#xA;In [It] at: test/e2e/common/node/pods.go:204</failure>
      <system-err>STEP: creating pod&#xA;  Warning  Failed  kubelet  Failed to pull image &#34;10.200.0.1:5000/e2e-test-images/glibc-dns-testing:2.1.1&#34;: not found&#xA;  Reason:ErrImagePull</system-err>
    </testcase>
    <testcase name="[It] [sig-network] Services should serve a basic endpoint from pods [Conformance]" classname="Kubernetes e2e suite" status="failed" time="60">
      <failure type="failed">[FAILED] Get &#34;http://10.244.2.7:8080/hostname&#34;: dial tcp 10.244.2.7:8080: connect: network is unreachable&#xA;In [It] at: x.go:1</failure>
    </testcase>
    <testcase name="[It] [sig-network] DNS should provide DNS for services [Conformance]" classname="Kubernetes e2e suite" status="timedout" time="60">
      <failure type="timedout">[TIMEDOUT] A suite timeout occurred&#xA;In [It] at: y.go:2</failure>
    </testcase>
    <testcase name="[It] [sig-apps] Job should run a job to completion [Conformance]" classname="Kubernetes e2e suite" status="panicked" time="1">
      <error type="panicked">[PANICKED] Test Panicked&#xA;runtime error</error>
    </testcase>
    <testcase name="[It] [sig-apps] Job should be skipped" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped - Only supported for providers [gce gke] (not skeleton)&#xA;In [It] at: z.go:3"></skipped>
    </testcase>
    <testcase name="[It] [sig-storage] CSI mock volume" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
    <testcase name="[It] [sig-storage] pending one" classname="Kubernetes e2e suite" status="pending" time="0">
      <skipped message="pending"></skipped>
    </testcase>
  </testsuite>
</testsuites>`

func labNets(t *testing.T) []*net.IPNet {
	t.Helper()
	var nets []*net.IPNet
	for _, c := range []string{"10.244.0.0/16", "10.96.0.0/16"} {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
	}
	return nets
}

func TestSummarizeCounts(t *testing.T) {
	s, err := Summarize(strings.NewReader(report), labNets(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sig  string
		want Counts
	}{
		{"sig-api-machinery", Counts{Passed: 1}},
		{"sig-node", Counts{Failed: 1}},
		{"sig-network", Counts{Failed: 2}},
		{"sig-apps", Counts{Failed: 1, Skipped: 1}},
	} {
		got := s.SIGs[tc.sig]
		if got == nil || *got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.sig, got, tc.want)
		}
	}
	if c := s.SIGs["sig-storage"]; c != nil {
		t.Errorf("sig-storage: got %+v, want no entry (its specs were not selected)", c)
	}
	if c := s.SIGs["(none)"]; c != nil {
		t.Errorf("(none): got %+v, want no entry (the suite's nodes are not specs)", c)
	}
	if want := (Counts{Passed: 1, Failed: 4, Skipped: 1}); s.Total != want {
		t.Errorf("total: got %+v, want %+v", s.Total, want)
	}
	if want := (Counts{Passed: 1}); s.Suite != want {
		t.Errorf("suite nodes: got %+v, want %+v", s.Suite, want)
	}
	if s.NotSelected != 2 {
		t.Errorf("not selected: got %d, want 2", s.NotSelected)
	}
	if got, want := s.SkipReasons["Only supported for providers [gce gke] (not skeleton)"], 1; got != want {
		t.Errorf("skip reasons: got %v, want the provider reason once", s.SkipReasons)
	}
}

func TestSummarizeFailures(t *testing.T) {
	s, err := Summarize(strings.NewReader(report), labNets(t))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Failure{
		"Pods should get a host IP": {SIG: "sig-node", Type: "failed", Cause: CauseImage,
			Detail:    "10.200.0.1:5000/e2e-test-images/glibc-dns-testing:2.1.1",
			FirstLine: "failed to start pod: Timed out after 300s. Expected pod to be running"},
		"Services should serve": {SIG: "sig-network", Type: "failed", Cause: CauseHostNetwork, Detail: "10.244.2.7",
			FirstLine: `Get "http://10.244.2.7:8080/hostname": dial tcp 10.244.2.7:8080: connect: network is unreachable`},
		"DNS should provide": {SIG: "sig-network", Type: "timedout", Cause: CauseSuiteTimeout, FirstLine: "A suite timeout occurred"},
		"Job should run":     {SIG: "sig-apps", Type: "panicked", Cause: CauseOther, FirstLine: "Test Panicked"},
	}
	if len(s.Failures) != len(want) {
		t.Fatalf("got %d failures, want %d: %+v", len(s.Failures), len(want), s.Failures)
	}
	for _, f := range s.Failures {
		found := false
		for key, w := range want {
			if !strings.Contains(f.Name, key) {
				continue
			}
			found = true
			w.Name = f.Name
			if f != w {
				t.Errorf("%s:\ngot  %+v\nwant %+v", key, f, w)
			}
		}
		if !found {
			t.Errorf("unexpected failure %q", f.Name)
		}
	}
	// Failures are grouped by cause: images first, other last.
	var got []Cause
	for _, f := range s.Failures {
		got = append(got, f.Cause)
	}
	if want := []Cause{CauseImage, CauseHostNetwork, CauseSuiteTimeout, CauseOther}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("causes in order: got %v, want %v", got, want)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		cause      Cause
		detail     string
	}{
		{"back-off names the image", `Back-off pulling image "10.200.0.1:5000/k8s/etcd:3.7.0-0"`, CauseImage, "10.200.0.1:5000/k8s/etcd:3.7.0-0"},
		{"reason only", `Waiting:&ContainerStateWaiting{Reason:ImagePullBackOff,}`, CauseImage, "(image not named in the report)"},
		{"escaped quotes in a pod dump", `Message:Failed to pull image \"a/b:1\": x`, CauseImage, "a/b:1"},
		{"service IP", `Post "https://10.96.4.5:443/x": dial tcp 10.96.4.5:443: connect: network is unreachable`, CauseHostNetwork, "10.96.4.5"},
		{"busybox nc without -v", "+ nc -v -t -w 2 affinity-nodeport 80\nnc: invalid option -- 'v'\nBusyBox v1.35.0", CauseStandIn, "nc: invalid option -- 'v'"},
		{"no curl", "sh: curl: not found", CauseStandIn, "curl: not found"},
		{"apiserver is reachable", `dial tcp 10.200.0.1:6443: connect: connection refused`, CauseOther, ""},
		{"plain assertion", `Expected <int>: 1 to equal <int>: 2`, CauseOther, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cause, detail := classify(tc.text, labNets(t))
			if cause != tc.cause || detail != tc.detail {
				t.Errorf("got %v %q, want %v %q", cause, detail, tc.cause, tc.detail)
			}
		})
	}
}

func TestMarkdown(t *testing.T) {
	s, err := Summarize(strings.NewReader(report), labNets(t))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	s.Markdown(&b, "Conformance run 2026-12-04")
	md := b.String()
	for _, want := range []string{
		"# Conformance run 2026-12-04\n",
		"6 specs ran: **1 passed, 4 failed, 1 skipped** (2 not run: outside the focus, or left at the suite timeout); suite setup and report nodes: 1 passed, 0 failed.",
		"| sig-network | 0 | 2 | 0 |\n",
		"| **all** | 1 | 4 | 1 |\n",
		"### needs an image the lab registry does not hold (1)\n",
		"`10.200.0.1:5000/e2e-test-images/glibc-dns-testing:2.1.1` (failed): failed to start pod: Timed out after 300s. Expected pod to be running\n",
		"### other (1)\n",
		"### cut short by the suite timeout (1)\n",
		`- \[It\] \[sig-apps\] Job should run a job to completion \[Conformance\] (panicked): Test Panicked`,
		`- Only supported for providers \[gce gke\] (not skeleton): 1`,
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestFirstLine(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"marker removed", "[FAILED] boom\nIn [It] at: x.go:1\n", "boom"},
		{"blank lines first", "\n\n  [TIMEDOUT] A suite timeout occurred\n", "A suite timeout occurred"},
		{"gomega lead-in joined", "[FAILED] Timed out after 120.001s.\nUnexpected websocket logs from pod \"p\"\nmore\n", `Timed out after 120.001s. Unexpected websocket logs from pod "p"`},
		{"Expected joined", "[FAILED] expected \"a=b\" in container output: Expected\n    <string>: X=1\n    Y=2\n", `expected "a=b" in container output: Expected <string>: X=1`},
		{"bracket that is not a marker", "[sig-node] thing failed\n", "[sig-node] thing failed"},
		{"empty", "\n", "(no message)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := firstLine(tc.body); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
