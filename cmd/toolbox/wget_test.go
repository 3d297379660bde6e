package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWget runs the wget applet against a local server, with the options
// learners and the e2e tests use.
func TestWget(t *testing.T) {
	srv, closedAddr := fetchServer(t)
	closed := "http://" + closedAddr + "/"
	dir := t.TempDir()

	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // substring
		wantFile   string // path under dir, "" for none
		wantData   string
	}{
		{name: "to stdout", args: []string{"-qO-", srv.URL + "/a"}, wantStdout: "hello from /a"},
		{name: "timeout set, answered", args: []string{"-q", "-T", "3", "-O", "-", srv.URL + "/b"}, wantStdout: "hello from /b"},
		{name: "long timeout option", args: []string{"-q", "--timeout=3", "-O", "-", srv.URL + "/b"}, wantStdout: "hello from /b"},
		{name: "timeout ends a stalled download", args: []string{"-q", "-T", "1", "-O", "-", srv.URL + "/hang"}, wantCode: 1, wantStderr: "wget: download timed out"},
		{name: "not found", args: []string{"-q", "-O", "-", srv.URL + "/missing"}, wantCode: 1, wantStderr: "wget: server returned error: HTTP/1.1 404 Not Found"},
		{name: "refused", args: []string{"-q", "-T", "2", "-O", "-", closed}, wantCode: 1, wantStderr: "wget: can't connect to remote host (127.0.0.1): Connection refused"},
		{name: "bad address", args: []string{"-q", "-O", "-", "http://no-such-host.invalid/"}, wantCode: 1, wantStderr: "wget: bad address 'no-such-host.invalid'"},
		{name: "spider", args: []string{"--spider", srv.URL + "/a"}, wantStderr: "remote file exists"},
		{name: "spider missing", args: []string{"-q", "--spider", srv.URL + "/missing"}, wantCode: 1, wantStderr: "404"},
		{name: "headers, agent, post", args: []string{"-q", "-O-", "--header", "X-Test: 1", "--header", "Host: web.example", "-U", "probe", "--post-data", "k=v", srv.URL + "/echo"},
			wantStdout: "POST web.example ua=probe x=1 range= body=k=v"},
		{name: "server response", args: []string{"-S", "-O", "/dev/null", srv.URL + "/a"}, wantStderr: "  HTTP/1.1 200 OK"},
		{name: "says where it connects", args: []string{"-O", "/dev/null", "http://localhost:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:] + "/a"}, wantStderr: "Connecting to localhost (127.0.0.1:"},
		{name: "named file", args: []string{"-q", "-O", filepath.Join(dir, "out"), srv.URL + "/c"}, wantFile: "out", wantData: "hello from /c"},
		{name: "file from url", args: []string{"-q", "-P", dir, srv.URL + "/page.txt"}, wantFile: "page.txt", wantData: "hello from /page.txt"},
		{name: "file from url kept", args: []string{"-q", "-P", dir, srv.URL + "/page.txt"}, wantCode: 1, wantStderr: "File exists"},
		{name: "index.html", args: []string{"-q", "-P", dir, srv.URL}, wantFile: "index.html", wantData: "hello from /"},
		{name: "no url", args: []string{"-q"}, wantCode: 1, wantStderr: "Usage: wget"},
		{name: "bad option", args: []string{"-Z", srv.URL}, wantCode: 1, wantStderr: "unknown shorthand flag: 'Z'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := wget(context.Background(), tt.args, environment{stdout: &stdout, stderr: &stderr})
			if code != tt.wantCode {
				t.Errorf("got exit %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("got stdout %q, want %q", got, tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("got stderr %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.wantFile != "" {
				b, err := os.ReadFile(filepath.Join(dir, tt.wantFile))
				if err != nil || string(b) != tt.wantData {
					t.Errorf("got %s = %q (%v), want %q", tt.wantFile, b, err, tt.wantData)
				}
			}
		})
	}
}

// TestWgetContinue resumes a partial file with a Range request.
func TestWgetContinue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", timeZero, strings.NewReader("0123456789"))
	}))
	t.Cleanup(srv.Close)
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, []byte("0123"), 0o644)
	var stderr bytes.Buffer
	if code := wget(context.Background(), []string{"-q", "-c", "-O", f, srv.URL + "/f"}, environment{stdout: io.Discard, stderr: &stderr}); code != 0 {
		t.Fatalf("got exit %d, want 0: %s", code, stderr.String())
	}
	if b, _ := os.ReadFile(f); string(b) != "0123456789" {
		t.Errorf("got %q, want %q", b, "0123456789")
	}
}

var timeZero = time.Time{}
