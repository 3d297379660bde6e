package main

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCurl runs the curl applet against a local server with the options
// tutorials and Kubernetes' e2e tests type, checking curl's output, its
// messages and its exit codes.
func TestCurl(t *testing.T) {
	srv, closed := fetchServer(t)
	_, closedPort, _ := net.SplitHostPort(closed)
	host := strings.TrimPrefix(srv.URL, "http://")
	out := filepath.Join(t.TempDir(), "out")

	tests := []appletRun{
		{name: "e2e form", args: []string{"-q", "-s", "--connect-timeout", "5", host + "/hostname"}, wantStdout: "hello from /hostname"},
		{name: "globoff and max time", args: []string{"-g", "-q", "-s", "--connect-timeout", "2", "--max-time", "60", srv.URL + "/"}, wantStdout: "hello from /"},
		{name: "status code only", args: []string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", srv.URL + "/missing"}, wantStdout: "404"},
		{name: "404 without -f is success", args: []string{"-s", srv.URL + "/missing"}, wantStdout: "404 page not found\n"},
		{name: "-f fails on 404", args: []string{"-sSf", srv.URL + "/missing"}, wantCode: 22, wantStderr: "curl: (22) The requested URL returned error: 404"},
		{name: "refused", args: []string{"--connect-timeout", "2", "http://" + closed + "/"}, wantCode: 7,
			wantStderr: "curl: (7) Failed to connect to 127.0.0.1 port " + closedPort + " after "},
		{name: "refused, silent", args: []string{"-s", "http://" + closed + "/"}, wantCode: 7},
		{name: "max time", args: []string{"-sS", "--max-time", "1", srv.URL + "/hang"}, wantCode: 28, wantStderr: "curl: (28) Operation timed out after "},
		{name: "unresolvable", args: []string{"-sS", "http://no-such-host.invalid/"}, wantCode: 6, wantStderr: "curl: (6) Could not resolve host: no-such-host.invalid"},
		{name: "redirect not followed", args: []string{"-s", "-o", "/dev/null", "-w", `%{http_code}\n`, srv.URL + "/moved"}, wantStdout: "302\n"},
		{name: "redirect followed", args: []string{"-sL", srv.URL + "/moved"}, wantStdout: "hello from /a"},
		{name: "post, headers", args: []string{"-s", "-d", "x=1", "-H", "X-Test: yes", "-H", "Host: example", "-A", "ua1", srv.URL + "/echo"},
			wantStdout: "POST example ua=ua1 x=yes range= body=x=1"},
		{name: "method", args: []string{"-s", "-X", "PUT", srv.URL + "/echo"}, wantStdout: "PUT " + host + " ua=curl/8.14.1 x= range= body="},
		{name: "to a file", args: []string{"-s", "-o", out, srv.URL + "/f"}},
		{name: "unknown option", args: []string{"--frobnicate", srv.URL}, wantCode: 2, wantStderr: "curl: unknown flag: --frobnicate"},
		{name: "no URL", args: []string{"-s"}, wantCode: 2, wantStderr: "curl: no URL specified"},
		{name: "not http", args: []string{"-sS", "ftp://x/"}, wantCode: 1, wantStderr: `curl: (1) Protocol "ftp" not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.wantQuietWhenNoError = true
			tt.check(t, curl)
		})
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "hello from /f" {
		t.Errorf("-o %s: got %q, %v, want %q", out, b, err, "hello from /f")
	}

	// A stdout that cannot be written (a closed pipe; /dev/null opened
	// for reading) is curl's 23, not a failed transfer.
	var stderr strings.Builder
	code := curl(context.Background(), []string{"-sS", srv.URL + "/f"}, environment{stdin: strings.NewReader(""), stdout: failingWriter{}, stderr: &stderr})
	if code != 23 || !strings.Contains(stderr.String(), "curl: (23) Failure writing output to destination") {
		t.Errorf("unwritable stdout: exit %d, stderr %q; want 23 and curl's message", code, stderr.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("bad file descriptor") }
