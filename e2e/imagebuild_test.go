//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// copyDir copies the example app into a directory the test may change.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput()
	if err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	return dst
}

// build runs `ctl image build` with its own cache directory.
func build(t *testing.T, cache string, args ...string) (string, error) {
	t.Helper()
	return ctl(append([]string{"image", "build", "--cache-dir", cache}, args...)...)
}

// stepLines returns the numbered steps (not FROM) of a build's progress
// with their outcome: "[3/5] COPY www/ ./www/ CACHED" or "… DONE".
func stepLines(out string) []string {
	re := regexp.MustCompile(`^#(\d+) (\[[^\]]+\] .*|CACHED|DONE .*)$`)
	names := map[string]string{}
	var steps []string
	for _, l := range strings.Split(out, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		switch n, ok := names[m[1]]; {
		case strings.HasPrefix(m[2], "["):
			names[m[1]] = m[2]
		case !ok || strings.Contains(n, "] FROM "):
		case m[2] == "CACHED":
			steps = append(steps, n+" CACHED")
		default:
			steps = append(steps, n+" DONE")
		}
	}
	return steps
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for n, c := range files {
		p := filepath.Join(dir, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestImageBuildToDeployment builds the example app from its Dockerfile,
// runs it as a Deployment behind a LoadBalancer with the README's three
// commands, rebuilds it from the cache, then changes a file and sees only
// that step and the ones after it run.
func TestImageBuildToDeployment(t *testing.T) {
	ns := namespace(t)
	cache := t.TempDir()
	app := copyDir(t, filepath.Join("..", "deploy", "examples", "hello"))
	epoch := "--build-arg=SOURCE_DATE_EPOCH=1700000000"
	run := `[5/5] RUN echo "hello $(cat www/VERSION) built by RUN in $(pwd)" > www/version.txt`

	out, err := build(t, cache, "-t", "e2e-hello:v1", epoch, app)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	digest := lastLine(out)
	want := []string{"[2/5] WORKDIR /app DONE", "[3/5] COPY www/ ./www/ DONE", "[4/5] COPY --chmod=755 hello.sh ./www/cgi-bin/hello DONE", run + " DONE"}
	if got := stepLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cold build steps:\ngot  %q\nwant %q\n%s", got, want, out)
	}

	if out, err := ctl("-n", ns, "create", "deployment", "hello", "--image=e2e-hello:v1"); err != nil {
		t.Fatalf("create deployment: %v\n%s", err, out)
	}
	if out, err := ctl("-n", ns, "expose", "deployment", "hello", "--port", "80", "--target-port", "8080", "--type", "LoadBalancer"); err != nil {
		t.Fatalf("expose: %v\n%s", err, out)
	}
	waitDeployment(t, ns, "hello", 1, 90*time.Second)
	ip := lbIP(t, ns, "hello")
	var body string
	eventually(t, 30*time.Second, "the built app answers", func() error {
		body, err = get("http://" + ip + "/cgi-bin/hello")
		return err
	})
	if !strings.HasPrefix(body, "hello from a Dockerfile (pod hello-") || !strings.Contains(body, "v1)") {
		t.Errorf("GET /cgi-bin/hello: got %q, want the greeting, the pod name and v1", body)
	}
	if v, err := get("http://" + ip + "/version.txt"); err != nil || strings.TrimSpace(v) != "hello v1 built by RUN in /app" {
		t.Errorf("GET /version.txt (written by the RUN): got %q, %v", v, err)
	}

	// Unchanged: every step is a hit; with SOURCE_DATE_EPOCH the digest
	// is the same.
	out, err = build(t, cache, "-t", "e2e-hello:v1", epoch, app)
	if err != nil {
		t.Fatalf("rebuild: %v\n%s", err, out)
	}
	want = []string{"[2/5] WORKDIR /app CACHED", "[3/5] COPY www/ ./www/ CACHED", "[4/5] COPY --chmod=755 hello.sh ./www/cgi-bin/hello CACHED", run + " CACHED"}
	if got := stepLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rebuild steps:\ngot  %q\nwant %q", got, want)
	}
	if got := lastLine(out); got != digest {
		t.Errorf("rebuild digest: got %s, want %s", got, digest)
	}

	// A changed hello.sh rebuilds its COPY and the RUN after it only.
	if err := os.WriteFile(filepath.Join(app, "hello.sh"), []byte("#!/bin/sh\necho Content-Type: text/plain\necho\necho changed v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err = build(t, cache, "-t", "e2e-hello:v2", epoch, app)
	if err != nil {
		t.Fatalf("build after a change: %v\n%s", err, out)
	}
	want = []string{"[2/5] WORKDIR /app CACHED", "[3/5] COPY www/ ./www/ CACHED", "[4/5] COPY --chmod=755 hello.sh ./www/cgi-bin/hello DONE", run + " DONE"}
	if got := stepLines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps after changing hello.sh:\ngot  %q\nwant %q", got, want)
	}
	if out, err := ctl("-n", ns, "set", "image", "deployment/hello", "e2e-hello=e2e-hello:v2"); err != nil {
		t.Fatalf("set image: %v\n%s", err, out)
	}
	eventually(t, 90*time.Second, "the new image answers", func() error {
		b, err := get("http://" + ip + "/cgi-bin/hello")
		if err == nil && strings.TrimSpace(b) != "changed v2" {
			return fmt.Errorf("got %q", b)
		}
		return err
	})

	// history: one row per instruction, at SOURCE_DATE_EPOCH.
	hist, err := ctl("image", "history", "--no-trunc", "e2e-hello:v2")
	if err != nil {
		t.Fatalf("history: %v\n%s", err, hist)
	}
	for _, w := range []string{`CMD ["httpd" "-f" "-v" "-p" "8080" "-h" "/app/www"]`, "USER 65534:65534", "EXPOSE [8080/tcp]",
		"COPY --chmod=755 hello.sh ./www/cgi-bin/hello # buildkit", "WORKDIR /app", "ENV GREETING=hello from a Dockerfile", "2023-11-14T22:13:20Z"} {
		if !strings.Contains(hist, w) {
			t.Errorf("history lacks %q:\n%s", w, hist)
		}
	}
	// inspect: the base layer, WORKDIR, two COPYs and the RUN.
	js, err := ctl("image", "inspect", "e2e-hello:v2")
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, js)
	}
	var ins []struct {
		Layers []struct{ Size int64 }
		Config struct {
			Config struct{ User, WorkingDir string }
		}
	}
	if err := json.Unmarshal([]byte(js), &ins); err != nil {
		t.Fatalf("inspect output: %v\n%s", err, js)
	}
	if len(ins) != 1 || len(ins[0].Layers) != 5 || ins[0].Config.Config.User != "65534:65534" || ins[0].Config.Config.WorkingDir != "/app" {
		t.Errorf("inspect: got %+v, want 5 layers, user 65534:65534, workdir /app", ins)
	}
}

// TestImageBuildDockerfileCases builds a Dockerfile with multi-stage COPY
// --from, a heredoc RUN, a RUN without network, ARG and ENV substitution,
// COPY with .dockerignore and --chown, WORKDIR, USER and ENTRYPOINT + CMD,
// and checks the image by running it in the lab.
func TestImageBuildDockerfileCases(t *testing.T) {
	ns := namespace(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"Dockerfile": `ARG BASE=minik8s/toolbox
FROM ${BASE} AS builder
WORKDIR /src
RUN <<EOF
mkdir -p /out
echo "built in $(pwd)" > /out/artifact
EOF
RUN (ip -o link show | cut -d' ' -f2 | tr -d '\n'; echo) > /out/links && \
    (wget -q -T 2 -O /dev/null http://10.200.0.1:5000/v2/ && echo reached || echo unreachable) > /out/net

FROM ${BASE}
ARG NAME=world
ENV GREETING="hello ${NAME}"
COPY --from=builder /out/artifact /out/links /out/net /opt/
COPY --chown=1234:5678 ctx/ /data/
WORKDIR /data
USER 1234
ENTRYPOINT ["/bin/sh", "-c", "echo user=$(id -u):$(id -g) pwd=$(pwd) greeting=$GREETING arg=${NAME:-unset}; cat /opt/artifact /opt/links /opt/net; ls -ln /data | awk '$9 {print $3\":\"$4\" \"$9}'; echo args=$0 $@", "first"]
CMD ["second"]
`,
		".dockerignore":   "ctx/*.secret\n",
		"ctx/keep.txt":    "keep",
		"ctx/drop.secret": "secret",
		"ctx/also.txt":    "also",
	})
	out, err := build(t, t.TempDir(), "-t", "e2e-cases:v1", "--build-arg", "NAME=minik8s", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "cases"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr(int64(1)),
		Containers: []corev1.Container{{Name: "c", Image: "e2e-cases:v1"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodPhase(t, ns, "cases", corev1.PodSucceeded, 60*time.Second)
	logs, err := podLogs(ns, "cases", "c")
	if err != nil {
		t.Fatal(err)
	}
	// USER 1234 without a passwd entry runs in group 0, as in Docker;
	// ARG values are not in the image's environment.
	// The RUN saw only loopback and could not reach the registry.
	want := "user=1234:0 pwd=/data greeting=hello minik8s arg=unset\nbuilt in /src\nlo:\nunreachable\n1234:5678 also.txt\n1234:5678 keep.txt\nargs=first second\n"
	if logs != want {
		t.Errorf("the image's output:\ngot  %q\nwant %q", logs, want)
	}
}

// TestImageBuildFailures: a failing RUN names its line, exit code and
// output and pushes nothing; a syntax error names the line.
func TestImageBuildFailures(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nRUN echo about to fail; echo oops >&2; exit 7\n"})
	out, err := build(t, t.TempDir(), "-t", "e2e-fail:v1", dir)
	if err == nil {
		t.Fatalf("a failing RUN built:\n%s", out)
	}
	for _, w := range []string{"Dockerfile:2", "did not complete successfully: exit code: 7", "oops", "about to fail"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if out, err := ctl("image", "inspect", "e2e-fail:v1"); err == nil {
		t.Errorf("the failed build pushed e2e-fail:v1:\n%s", out)
	}

	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nCOPY a\nRUN true\n"})
	out, err = build(t, t.TempDir(), "-t", "e2e-fail:v1", dir)
	if err == nil || !strings.Contains(out, "Dockerfile:2") || !strings.Contains(out, "COPY requires at least two arguments") {
		t.Errorf("syntax error: got %v\n%s", err, out)
	}
}

// TestImageSaveRmLoad: save writes what load reads back; rm deletes the
// image from the registry.
func TestImageSaveRmLoad(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM minik8s/toolbox\nCOPY f /f\n", "f": "f"})
	out, err := build(t, t.TempDir(), "-t", "e2e-save:v1", "-t", "e2e-save:also", dir)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	digest := lastLine(out)
	tarball := filepath.Join(t.TempDir(), "img.tar")
	if out, err := ctl("image", "save", "-o", tarball, "e2e-save:v1"); err != nil {
		t.Fatalf("save: %v\n%s", err, out)
	}
	// The registry deletes by digest: rm refuses to take a tag not named.
	if out, err := ctl("image", "rm", "e2e-save:v1"); err == nil || !strings.Contains(out, "has the same digest as 10.200.0.1:5000/library/e2e-save:also") {
		t.Fatalf("rm of one of two tags of a digest: got %v\n%s", err, out)
	}
	if out, err := ctl("image", "rm", "e2e-save:v1", "e2e-save:also"); err != nil || !strings.Contains(out, "Deleted: 10.200.0.1:5000/library/e2e-save@"+digest) {
		t.Fatalf("rm: %v\n%s", err, out)
	}
	if out, err := ctl("image", "inspect", "e2e-save:v1"); err == nil {
		t.Fatalf("inspect after rm found it:\n%s", out)
	}
	if out, err := ctl("image", "load", tarball); err != nil {
		t.Fatalf("load: %v\n%s", err, out)
	}
	if js, err := ctl("image", "inspect", "e2e-save:v1"); err != nil || !strings.Contains(js, digest) {
		t.Errorf("inspect after load: %v, want digest %s\n%s", err, digest, js)
	}
}
