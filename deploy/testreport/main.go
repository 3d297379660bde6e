// Command testreport reads `go test -json` on its standard input and prints
// what plain `go test` would: one result line per package, and the output
// of each test that failed. Unlike plain `go test`, it also shows every
// skipped test with its reason, and it ends with one line
//
//	N passed, N failed, N skipped
//
// It exits non-zero when a test failed, when a package failed without a
// failing test (a build error, a crash in TestMain, a timeout), when no test
// ran at all, or when a test skipped that the allow-list does not name: a
// test that skips because the machine lacks something is a test that did
// not run, and nobody reads the skip lines of a passing log.
//
// The allow-list (-skips) has one entry a line, a package's import path, a
// test's full name (subtests as go test -json names them) and a comment
// saying why it may skip:
//
//	minik8s/pkg/kubelet TestRealFigures  # a measurement, run by hand
//
// Usage, as deploy/run-tests.sh runs it:
//
//	go test -json ./... | go run ./deploy/testreport -skips deploy/test-skips.txt
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	skips := flag.String("skips", "", "file of tests allowed to skip (`package TestName  # why`, one a line)")
	tests := flag.Bool("tests", false, "also print a line for each top-level test as it ends (progress for long packages)")
	flag.Parse()

	allowed := allowList{}
	if *skips != "" {
		f, err := os.Open(*skips)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testreport:", err)
			os.Exit(2)
		}
		allowed, err = parseAllowList(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: %s: %v\n", *skips, err)
			os.Exit(2)
		}
	}
	r := newReport(os.Stdout, allowed, *tests)
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testreport: reading go test -json:", err)
		os.Exit(2)
	}
	if !r.finish() {
		os.Exit(1)
	}
}
