package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fetchServer serves what the wget and curl tests fetch: /hang (headers,
// then nothing until the client leaves), /missing (404), /moved (302 to
// /a), /echo (the request, one line) and anything else as "hello from
// PATH". closed is an address nothing listens on.
func fetchServer(t *testing.T) (srv *httptest.Server, closed string) {
	t.Helper()
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hang":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			<-r.Context().Done() // sends nothing more until the client leaves
		case "/missing":
			http.NotFound(w, r)
		case "/moved":
			http.Redirect(w, r, "/a", http.StatusFound)
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s ua=%s x=%s range=%s body=%s", r.Method, r.Host, r.UserAgent(), r.Header.Get("X-Test"), r.Header.Get("Range"), b)
		default:
			io.WriteString(w, "hello from "+r.URL.Path)
		}
	}))
	t.Cleanup(srv.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed = l.Addr().String()
	l.Close()
	return srv, closed
}

// appletRun is one run of an applet and what it should give: its exit
// code, all of its stdout, and a part of its stderr ("" wants none when
// quiet is set).
type appletRun struct {
	name, stdin          string
	args                 []string
	wantCode             int
	wantStdout           string
	wantStderr           string
	wantQuietWhenNoError bool
}

// check runs the applet with tt's arguments and stdin and compares.
func (tt appletRun) check(t *testing.T, applet func(context.Context, []string, environment) int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := applet(context.Background(), tt.args, environment{stdin: strings.NewReader(tt.stdin), stdout: &stdout, stderr: &stderr})
	if code != tt.wantCode {
		t.Errorf("exit code: got %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
	}
	if got := stdout.String(); got != tt.wantStdout {
		t.Errorf("stdout: got %q, want %q", got, tt.wantStdout)
	}
	if tt.wantQuietWhenNoError && tt.wantStderr == "" && stderr.Len() > 0 {
		t.Errorf("stderr: got %q, want nothing", stderr.String())
	}
	if !strings.Contains(stderr.String(), tt.wantStderr) {
		t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tt.wantStderr)
	}
}
