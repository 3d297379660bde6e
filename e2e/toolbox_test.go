//go:build e2e

package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestToolboxApplets runs, in a toolbox pod on the lab, each tool the
// README lists for the toolbox image, the way a learner types it: by exec
// and from sh -c (a shell that ran its own applets before PATH would pick
// busybox's wget, which crashes on -T), wget with a timeout to a Service
// by ClusterIP and by name, a timeout that fires, nc as client and
// server, nslookup of cluster names. An applet that crashes shows as exit
// 139 ("Segmentation fault") in the output.
func TestToolboxApplets(t *testing.T) {
	waitDNSReady(t)
	ns := namespace(t)
	dnsEchoDeployment(t, ns, "web", 1)
	ip := clusterIPService(t, ns, "web")
	waitDeployment(t, ns, "web", 1, 60*time.Second)
	dnsClient(t, ns, "client")
	const greeting = "hello from minik8s/echo v1"
	eventually(t, 30*time.Second, "the Service answers the client", func() error {
		out, err := podExec(ns, "client", "toolbox", "wget", "-q", "-T", "3", "-O", "-", "http://"+ip+"/")
		if err != nil || !strings.Contains(out, greeting) {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	tests := []struct {
		name    string
		command []string
		want    []string // each in the output (stdout and stderr)
	}{
		{name: "sh", command: []string{"sh", "-c", "x=6; echo $((x*7)) $0", "arg0"}, want: []string{"42 arg0"}},
		{name: "wget -T by exec", command: []string{"wget", "-q", "-T", "3", "-O", "-", "http://" + ip + "/"}, want: []string{greeting}},
		{name: "wget -T from sh, Service by name", command: []string{"sh", "-c", "wget -T 3 -O - http://web/ 2>&1; echo rc=$?"},
			want: []string{"Connecting to web (" + ip + ":80)", greeting, "rc=0"}},
		{name: "wget -T to a full name", command: []string{"sh", "-c", "wget -q -T 3 -O - http://web." + ns + ".svc.cluster.local/; echo rc=$?"}, want: []string{greeting, "rc=0"}},
		{name: "wget -T times out, nc listens", command: []string{"sh", "-c",
			"(sleep 5 | nc -l -p 9000) >/dev/null 2>&1 & sleep 1; wget -q -T 2 -O - http://127.0.0.1:9000/ 2>&1; echo rc=$?"},
			want: []string{"wget: download timed out", "rc=1"}},
		{name: "wget to a refusing port", command: []string{"sh", "-c", "wget -q -T 2 -O - http://127.0.0.1:9/ 2>&1; echo rc=$?"},
			want: []string{"wget: can't connect to remote host (127.0.0.1): Connection refused", "rc=1"}},
		{name: "wget spider", command: []string{"sh", "-c", "wget -T 3 --spider http://web/ 2>&1; echo rc=$?"}, want: []string{"remote file exists", "rc=0"}},
		{name: "nc to a Service", command: []string{"sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 web 80; echo rc=$?`},
			want: []string{"HTTP/1.0 200 OK", greeting, "rc=0"}},
		{name: "curl a Service by name", command: []string{"sh", "-c", "curl -q -s --connect-timeout 3 http://web/; echo rc=$?"}, want: []string{greeting, "rc=0"}},
		{name: "curl's status code", command: []string{"sh", "-c", `curl -s -o /dev/null -w "%{http_code}" --max-time 3 http://web/healthz; echo " rc=$?"`}, want: []string{"200 rc=0"}},
		{name: "curl to a refusing port", command: []string{"sh", "-c", "curl -sS --connect-timeout 2 http://127.0.0.1:9/ 2>&1; echo rc=$?"},
			want: []string{"curl: (7) Failed to connect to 127.0.0.1 port 9", "Connection refused", "rc=7"}},
		{name: "nslookup of a Service", command: []string{"nslookup", "web." + ns + ".svc.cluster.local"}, want: []string{"Address: " + ip + "\n"}},
		{name: "nslookup of the API", command: []string{"nslookup", "kubernetes.default.svc.cluster.local"}, want: []string{"Address: 10.96.0.1\n"}},
		{name: "files and processes", command: []string{"sh", "-c", "echo hi > /tmp/f && cat /tmp/f && ls /tmp && ps | grep -c 'sleep 3600' && timeout 1 sleep 5; echo rc=$?"},
			want: []string{"hi\nf\n", "rc=143"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := podExec(ns, "client", "toolbox", tt.command...)
			if err != nil {
				t.Fatalf("%q: %v: %s", tt.command, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("%q: got\n%s\nwant it to contain %q", tt.command, out, w)
				}
			}
			if strings.Contains(out, "Segmentation fault") || strings.Contains(out, "rc=139") {
				t.Errorf("%q crashed:\n%s", tt.command, out)
			}
		})
	}
	// The image carries what it says: the applets the tests use, and
	// busybox's libraries (it is dynamically linked).
	out, err := podExec(ns, "client", "toolbox", "ls", "/bin")
	if err != nil {
		t.Fatal(err)
	}
	bins := strings.Fields(out)
	for _, want := range []string{"busybox", "toolbox", "sh", "wget", "curl", "nc", "nslookup", "ping", "cat", "ls", "ps", "timeout"} {
		if !slices.Contains(bins, want) {
			t.Errorf("/bin lacks %s: %v", want, bins)
		}
	}
}
