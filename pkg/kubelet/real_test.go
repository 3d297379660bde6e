package kubelet

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/google/go-containerregistry/pkg/name"
	v1img "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/netns"
	"minik8s/pkg/pki"
)

// The tests below drive a real containerd, runc and the CNI plugins; they
// run as root on a machine with Debian's containerd, runc and
// containernetworking-plugins, each agent in a network namespace klt-*.

const testImage = "docker.io/minik8s/toolbox:klt"

func TestMain(m *testing.M) {
	if os.Getenv("KLT_AGENT") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		cmd := NewCommand(ctx)
		cmd.SetArgs(os.Args[1:])
		err := cmd.Execute()
		stop()
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func skipUnlessReal(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("real containerd/CNI test: needs root")
	}
	for _, p := range []string{"/usr/bin/containerd", "/usr/sbin/runc", "/usr/lib/cni/bridge", "/bin/busybox"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("real containerd/CNI test: %s missing", p)
		}
	}
	if testing.Short() {
		t.Skip("real containerd/CNI test: skipped with -short")
	}
}

// unmountUnder detaches every mount below dir.
func unmountUnder(dir string) {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) > 4 && strings.HasPrefix(f[4], dir) {
			_ = unix.Unmount(f[4], unix.MNT_DETACH)
		}
	}
}

type realEnv struct {
	dir, sock, netns, bin string
	logger                string
	client                kubernetes.Interface
	apiURL                string
	agent                 *exec.Cmd
	agentArgs             []string
	cd                    *containerd.Client
	exited                chan struct{}
}

func (e *realEnv) agentDied() bool {
	select {
	case <-e.exited:
		return true
	default:
		return false
	}
}

func startContainerd(t *testing.T, dir string) string {
	sock, _ := startContainerdProcess(t, dir)
	return sock
}

// startContainerdProcess starts containerd with its state in dir (again
// after a kill: its state is kept) and returns its socket and process.
func startContainerdProcess(t *testing.T, dir string) (string, *os.Process) {
	sock := filepath.Join(dir, "containerd.sock")
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", sock+".debug")
	cfgPath := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, _ := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	cmd := exec.Command("/usr/bin/containerd", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock, cmd.Process
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("containerd did not start")
	return "", nil
}

// busyboxImage is a one-layer image with /bin/busybox and its applets.
func busyboxImage(t *testing.T) []byte {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "tmp/", "etc/", "www/"} {
		_ = tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o1777})
	}
	_ = tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	_, _ = tw.Write(bb)
	for _, a := range []string{"sh", "sleep", "wget", "nc", "httpd", "echo", "cat", "true", "false", "mkdir", "hostname", "ls", "env"} {
		_ = tw.WriteHeader(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	_ = tw.Close()
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = v1img.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(testImage)
	var out bytes.Buffer
	if err := tarball.Write(ref, img, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// inNetns runs f on a thread inside the namespace at path.
func inNetns(path string, f func() error) error { return netns.Do(path, f) }

// forward accepts on 127.0.0.1 in listenNS ("" = ours) and connects to
// target from dialNS.
func forward(t *testing.T, listenNS, dialNS, target string) string {
	var ln net.Listener
	listen := func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }
	var err error
	if listenNS == "" {
		err = listen()
	} else {
		err = inNetns(listenNS, listen)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var up net.Conn
				dial := func() (err error) { up, err = net.Dial("tcp", target); return err }
				if dialNS == "" {
					err = dial()
				} else {
					err = inNetns(dialNS, dial)
				}
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return ln.Addr().String()
}

func setupReal(t *testing.T) *realEnv {
	skipUnlessReal(t)
	dir, err := os.MkdirTemp("", "klt-")
	if err != nil {
		t.Fatal(err)
	}
	e := &realEnv{dir: dir}
	t.Cleanup(func() {
		// Runs last, after containerd stopped: a shim whose task outlived
		// the kill below (one started as the agent stopped) would keep
		// running without its containerd; end it by its socket's path.
		_ = exec.Command("pkill", "-KILL", "-f", "containerd-shim-runc-v2 .*-address "+dir+"/").Run()
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	// The agent is this test binary, re-executed (see TestMain).
	if e.bin, err = os.Executable(); err != nil {
		t.Fatal(err)
	}
	// KLT_AGENT_BIN runs a built kubelet-lite instead (for its memory figure).
	if b := os.Getenv("KLT_AGENT_BIN"); b != "" {
		e.bin = b
	}
	// The shims start the logging binary the agent is given.
	e.logger = filepath.Join(dir, "bin", "container-logger")
	if out, err := exec.Command("go", "build", "-o", e.logger, "minik8s/cmd/container-logger").CombinedOutput(); err != nil {
		t.Fatalf("building container-logger: %v\n%s", err, out)
	}
	e.sock = startContainerd(t, dir)
	cd, err := containerd.New(e.sock, containerd.WithDefaultNamespace("klt"))
	if err != nil {
		t.Fatal(err)
	}
	e.cd = cd
	ctx := namespaces.WithNamespace(context.Background(), "klt")
	if _, err := cd.Import(ctx, bytes.NewReader(busyboxImage(t))); err != nil {
		t.Fatalf("importing image: %v", err)
	}
	t.Cleanup(func() {
		// Kill and remove whatever is left (shims exit with their tasks).
		cs, _ := cd.Containers(ctx)
		for _, c := range cs {
			if task, err := c.Task(ctx, nil); err == nil {
				_, _ = task.Delete(ctx, containerd.WithProcessKill)
			}
			_ = c.Delete(ctx, containerd.WithSnapshotCleanup)
		}
		cd.Close()
	})

	e.netns = fmt.Sprintf("klt-%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", e.netns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", e.netns).Run() })
	_ = exec.Command("ip", "-n", e.netns, "link", "set", "lo", "up").Run()

	srv := apiservertest.Start(t)
	e.client = kubernetes.NewForConfigOrDie(srv.Config)
	u, _ := url.Parse(srv.URL)
	e.apiURL = "https://" + forward(t, "/run/netns/"+e.netns, "", u.Host)
	// The agent is system:node:klt-node, by a client certificate of the
	// test cluster's CA, as the lab's agents are.
	ca, err := pki.LoadCA(srv.Cfg.CertDir)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "agent.kubeconfig")
	if err := ca.WriteKubeconfig(kubeconfig, "klt", e.apiURL, pki.Node("klt-node")); err != nil {
		t.Fatal(err)
	}
	e.agentArgs = []string{e.bin,
		"--kubeconfig", kubeconfig, "--node-name", "klt-node", "--node-ip", "127.0.0.1", "--pod-cidr", "10.244.77.0/24",
		"--containerd-address", e.sock, "--containerd-namespace", "klt", "--container-logger", e.logger, "--state-dir", filepath.Join(dir, "state"),
		"--netns-dir", filepath.Join(dir, "netns"), "--listen", "127.0.0.1:0", "--proxy=false",
		"--crashloop-max-backoff", "2s", "--lease-duration", "4s", "--sync-frequency", "2s",
		"--registry-mirror", "docker.io=http://127.0.0.1:1", "-v=1"}
	e.startAgent(t)
	t.Cleanup(func() {
		// Delete the pods and let the agent clean up before stopping it.
		pods, _ := e.client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
		zero := int64(0)
		for _, p := range pods.Items {
			_ = e.client.CoreV1().Pods("default").Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		time.Sleep(2 * time.Second)
		e.stopAgent(syscall.SIGTERM)
		// Remove the bridge's iptables leftovers with the namespace.
	})
	return e
}

func (e *realEnv) startAgent(t *testing.T) {
	logf, _ := os.OpenFile(filepath.Join(e.dir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	cmd := exec.Command(e.agentArgs[0], e.agentArgs[1:]...)
	cmd.Env = append(os.Environ(), "KLT_AGENT=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := netns.Start("/run/netns/"+e.netns, cmd); err != nil {
		t.Fatal(err)
	}
	e.agent = cmd
	e.exited = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(e.exited)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		n, err := e.client.CoreV1().Nodes().Get(ctx, "klt-node", metav1.GetOptions{})
		if err == nil && n.Status.DaemonEndpoints.KubeletEndpoint.Port > 0 {
			return
		}
		if e.agentDied() {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(filepath.Join(e.dir, "agent.log"))
	t.Fatalf("agent did not register its node:\n%s", b)
}

func (e *realEnv) stopAgent(sig syscall.Signal) {
	if e.agent == nil {
		return
	}
	_ = e.agent.Process.Signal(sig)
	<-e.exited
	e.agent = nil
}

func (e *realEnv) agentLog() string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "agent.log"))
	return string(b)
}

// agentURL is a root-namespace address that reaches the agent's API.
func (e *realEnv) agentURL(t *testing.T) string {
	n, err := e.client.CoreV1().Nodes().Get(context.Background(), "klt-node", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + forward(t, "", "/run/netns/"+e.netns, fmt.Sprintf("127.0.0.1:%d", n.Status.DaemonEndpoints.KubeletEndpoint.Port))
}

func (e *realEnv) create(t *testing.T, pod *v1.Pod) *v1.Pod {
	pod.Namespace = "default"
	pod.Spec.NodeName = "klt-node"
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image == "" {
			pod.Spec.Containers[i].Image = testImage
		}
		if pod.Spec.Containers[i].ImagePullPolicy == "" {
			pod.Spec.Containers[i].ImagePullPolicy = v1.PullIfNotPresent
		}
	}
	p, err := e.client.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *realEnv) waitPod(t *testing.T, name string, what string, timeout time.Duration, cond func(*v1.Pod) bool) *v1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *v1.Pod
	for time.Now().Before(deadline) {
		if e.agentDied() {
			t.Fatalf("agent exited:\n%s", e.agentLog())
		}
		p, err := e.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s: timed out waiting for %s; last status: %+v\nagent log:\n%s", name, what, last.Status, e.agentLog())
	return nil
}

func sh(script string) []string { return []string{"sh", "-c", script} }

func (e *realEnv) logs(t *testing.T, base, pod, container, query string) string {
	resp, err := (&httpClient).Get(fmt.Sprintf("%s/containerLogs/default/%s/%s?%s", base, pod, container, query))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestRealPods(t *testing.T) {
	e := setupReal(t)
	base := e.agentURL(t)

	t.Run("two containers share localhost, logs and exec", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shared"}, Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "web", Command: sh("mkdir -p /tmp/w && echo hello-$(hostname) > /tmp/w/index.html && exec httpd -f -p 8080 -h /tmp/w")},
			{Name: "client", Command: sh("until wget -qO- http://127.0.0.1:8080/; do sleep 0.2; done; exec sleep 3600")},
		}}})
		p := e.waitPod(t, "shared", "Running and ready", 60*time.Second, func(p *v1.Pod) bool {
			return p.Status.Phase == v1.PodRunning && podStatusReady(&p.Status)
		})
		if p.Status.PodIP == "" || !strings.HasPrefix(p.Status.PodIP, "10.244.77.") {
			t.Errorf("podIP = %q, want one from 10.244.77.0/24", p.Status.PodIP)
		}
		var out string
		for i := 0; i < 50; i++ {
			if out = e.logs(t, base, "shared", "client", ""); strings.Contains(out, "hello-shared") {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if !strings.Contains(out, "hello-shared") {
			t.Fatalf("client logs = %q, want the page served on localhost by the other container", out)
		}
		u, _ := url.Parse(base + "/exec/default/shared/web?command=cat&command=/tmp/w/index.html&stdout=true&stderr=true")
		ex, err := remotecommand.NewSPDYExecutor(&rest.Config{Host: base}, "POST", u)
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr}); err != nil {
			t.Fatalf("exec: %v (stderr %q)", err, stderr.String())
		}
		if strings.TrimSpace(stdout.String()) != "hello-shared" {
			t.Errorf("exec stdout = %q, want hello-shared", stdout.String())
		}
		// The WebSocket protocol (v5, what kubectl tries first), with stdin.
		ws, err := remotecommand.NewWebSocketExecutor(&rest.Config{Host: base}, "GET", base+"/exec/default/shared/web?command=cat&stdin=true&stdout=true&stderr=true")
		if err != nil {
			t.Fatal(err)
		}
		stdout.Reset()
		if err := ws.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdin: strings.NewReader("over websocket\n"), Stdout: &stdout, Stderr: &stderr}); err != nil {
			t.Fatalf("websocket exec: %v", err)
		}
		if stdout.String() != "over websocket\n" {
			t.Errorf("websocket exec stdout = %q, want the stdin echoed", stdout.String())
		}
		u2, _ := url.Parse(base + "/exec/default/shared/web?command=sh&command=-c&command=exit+7&stdout=true&stderr=true")
		ex2, _ := remotecommand.NewSPDYExecutor(&rest.Config{Host: base}, "POST", u2)
		err = ex2.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
		if ce, ok := err.(interface{ ExitStatus() int }); !ok || ce.ExitStatus() != 7 {
			t.Errorf("exec exit error = %v, want exit status 7", err)
		}
	})

	t.Run("crash loop counts restarts and keeps the last exit code", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crash"}, Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "c", Command: sh("echo attempt; exit 3")},
		}}})
		p := e.waitPod(t, "crash", "2 restarts", 60*time.Second, func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2 &&
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil
		})
		if got := p.Status.ContainerStatuses[0].LastTerminationState.Terminated.ExitCode; got != 3 {
			t.Errorf("last exit code = %d, want 3", got)
		}
		if out := e.logs(t, base, "crash", "c", "previous=true"); !strings.Contains(out, "attempt") {
			t.Errorf("previous logs = %q, want attempt", out)
		}
	})

	t.Run("a Never pod succeeds with its logs", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "once"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever, Containers: []v1.Container{
			{Name: "c", Command: sh("echo line1; echo line2; echo $MY_POD/$MY_NS"), Env: []v1.EnvVar{
				{Name: "MY_POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "MY_NS", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			}},
		}}})
		e.waitPod(t, "once", "Succeeded", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if out := e.logs(t, base, "once", "c", ""); out != "line1\nline2\nonce/default\n" {
			t.Errorf("logs = %q", out)
		}
		if out := e.logs(t, base, "once", "c", "tailLines=1"); out != "once/default\n" {
			t.Errorf("tailLines=1 logs = %q", out)
		}
	})

	t.Run("a failing liveness probe restarts the container", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "live"}, Spec: v1.PodSpec{TerminationGracePeriodSeconds: ptrInt64(2), Containers: []v1.Container{
			{Name: "c", Command: sh("touch /tmp/ok; sleep 3; rm /tmp/ok; exec sleep 3600"),
				LivenessProbe: &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"cat", "/tmp/ok"}}}, PeriodSeconds: 1, FailureThreshold: 2}},
		}}})
		e.waitPod(t, "live", "a restart", 60*time.Second, func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
	})

	t.Run("an unpullable image gives ErrImagePull with the message", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "nopull"}, Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "c", Image: "minik8s/nope:1", ImagePullPolicy: v1.PullAlways},
		}}})
		p := e.waitPod(t, "nopull", "ErrImagePull", 60*time.Second, func(p *v1.Pod) bool {
			if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				return false
			}
			r := p.Status.ContainerStatuses[0].State.Waiting.Reason
			return r == "ErrImagePull" || r == "ImagePullBackOff"
		})
		if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "127.0.0.1:1") {
			t.Errorf("message = %q, want the registry's error", msg)
		}
	})

	t.Run("graceful delete within the grace period", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "grace"}, Spec: v1.PodSpec{TerminationGracePeriodSeconds: ptrInt64(20), Containers: []v1.Container{
			{Name: "c", Command: sh("trap 'echo bye; exit 0' TERM; while true; do sleep 0.2; done")},
		}}})
		e.waitPod(t, "grace", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
		start := time.Now()
		if err := e.client.CoreV1().Pods("default").Delete(context.Background(), "grace", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			_, err := e.client.CoreV1().Pods("default").Get(context.Background(), "grace", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				break
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("pod not gone after 30s\n%s", e.agentLog())
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("pod that handles SIGTERM gone after %s (grace 20s)", time.Since(start).Round(time.Millisecond))
		if time.Since(start) > 15*time.Second {
			t.Errorf("SIGTERM was not delivered: took the whole grace period")
		}
	})

	t.Run("an OOM-killed container says OOMKilled and restarts", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "oom"}, Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "c", Command: sh("x=a; while true; do x=$x$x; done"),
				Resources: v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceMemory: resource.MustParse("16Mi")}}},
		}}})
		p := e.waitPod(t, "oom", "a restart after the OOM kill", 60*time.Second, func(p *v1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
				p.Status.ContainerStatuses[0].LastTerminationState.Terminated != nil
		})
		if term := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; term.Reason != "OOMKilled" || term.ExitCode != 137 {
			t.Errorf("last state = %s (exit %d), want OOMKilled (exit 137)", term.Reason, term.ExitCode)
		}
	})

	t.Run("logs have timestamps, since and follow", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stamps"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever, Containers: []v1.Container{
			{Name: "c", Command: sh("echo one; sleep 1.5; echo two >&2; sleep 1.5; echo three")},
		}}})
		e.waitPod(t, "stamps", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase != v1.PodPending })
		// Follow ends by itself once the container has exited.
		out := e.logs(t, base, "stamps", "c", "follow=true&timestamps=true")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 3 {
			t.Fatalf("followed logs = %q, want 3 lines", out)
		}
		var at [3]time.Time
		for i, want := range []string{"one", "two", "three"} {
			ts, text, _ := strings.Cut(lines[i], " ")
			var err error
			if at[i], err = time.Parse(time.RFC3339Nano, ts); err != nil || text != want {
				t.Fatalf("line %d = %q, want <RFC 3339 time> %s", i, lines[i], want)
			}
		}
		if d := at[1].Sub(at[0]); d < time.Second {
			t.Errorf("two was stamped %s after one, want the time it was written (1.5 s later)", d)
		}
		since := at[1].Truncate(time.Second).Format(time.RFC3339)
		if out := e.logs(t, base, "stamps", "c", "sinceTime="+since); out != "two\nthree\n" {
			t.Errorf("logs since %s = %q, want two and three", since, out)
		}
		if out := e.logs(t, base, "stamps", "c", "tailLines=1&timestamps=true"); out != lines[2]+"\n" {
			t.Errorf("last line with its time = %q, want %q", out, lines[2]+"\n")
		}
	})

	t.Run("a TTY container logs through its terminal", func(t *testing.T) {
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tty"}, Spec: v1.PodSpec{RestartPolicy: v1.RestartPolicyNever, Containers: []v1.Container{
			{Name: "c", TTY: true, Command: sh("echo on-a-terminal")},
		}}})
		e.waitPod(t, "tty", "Succeeded", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodSucceeded })
		if out := e.logs(t, base, "tty", "c", ""); out != "on-a-terminal\r\n" {
			t.Errorf("logs = %q, want the line as the terminal wrote it", out)
		}
	})

	t.Run("a restarted agent adopts without restarting", func(t *testing.T) {
		before := e.waitPod(t, "shared", "Running", 10*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
		e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ticker"}, Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "c", Command: sh("i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")},
		}}})
		e.waitPod(t, "ticker", "Running", 60*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning })
		stopped := time.Now()
		e.stopAgent(syscall.SIGKILL)
		time.Sleep(time.Second)
		restarted := time.Now()
		e.startAgent(t)
		time.Sleep(5 * time.Second)
		// The container went on logging while no agent ran, each line
		// stamped when it was written.
		var during int
		for i, l := range strings.Split(strings.TrimSuffix(e.logs(t, e.agentURL(t), "ticker", "c", "timestamps=true"), "\n"), "\n") {
			ts, text, _ := strings.Cut(l, " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || text != fmt.Sprintf("tick %d", i) {
				t.Fatalf("ticker line %d = %q, want <time> tick %d", i, l, i)
			}
			if at.After(stopped) && at.Before(restarted) {
				during++
			}
		}
		if during < 5 {
			t.Errorf("%d lines stamped while the agent was down (1 s, a line every 0.1 s), want at least 5", during)
		}
		after := e.waitPod(t, "shared", "Running", 10*time.Second, func(p *v1.Pod) bool { return p.Status.Phase == v1.PodRunning && podStatusReady(&p.Status) })
		for i := range before.Status.ContainerStatuses {
			b, a := before.Status.ContainerStatuses[i], after.Status.ContainerStatuses[i]
			if a.ContainerID != b.ContainerID || a.RestartCount != b.RestartCount {
				t.Errorf("container %s: id/restarts %s/%d → %s/%d, want unchanged", b.Name, b.ContainerID, b.RestartCount, a.ContainerID, a.RestartCount)
			}
		}
		ctx := namespaces.WithNamespace(context.Background(), "klt")
		cs, _ := e.cd.Containers(ctx)
		n := 0
		for _, c := range cs {
			l, _ := c.Labels(ctx)
			if l[labelPodName] == "shared" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("containerd holds %d containers of pod shared, want 2", n)
		}
	})
}

func ptrInt64(v int64) *int64 { return &v }

var httpClient = http.Client{Timeout: 20 * time.Second}

// TestRealFigures prints pod start latency (warm image) and the agent's
// RSS with 30 pods. Run with KLT_FIGURES=1; it asserts nothing on timing.
func TestRealFigures(t *testing.T) {
	if os.Getenv("KLT_FIGURES") == "" {
		t.Skip("set KLT_FIGURES=1 to measure pod start latency and agent memory")
	}
	e := setupReal(t)
	ctx := context.Background()
	w, err := e.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	running := map[string]time.Duration{}
	const n = 30
	go func() {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("fig-%d", i)
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			e.create(t, &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PodSpec{TerminationGracePeriodSeconds: ptrInt64(1),
				Containers: []v1.Container{{Name: "c", Command: []string{"sleep", "3600"}}}}})
			time.Sleep(200 * time.Millisecond) // 5 pods per second
		}
	}()
	deadline := time.After(120 * time.Second)
	for len(running) < n {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*v1.Pod)
			if !ok || p.Status.Phase != v1.PodRunning {
				continue
			}
			if _, seen := running[p.Name]; !seen {
				mu.Lock()
				running[p.Name] = time.Since(created[p.Name])
				mu.Unlock()
			}
		case <-deadline:
			t.Fatalf("only %d of %d pods running after 120s", len(running), n)
		}
	}
	var lat []time.Duration
	for _, d := range running {
		lat = append(lat, d)
	}
	sortDurations(lat)
	t.Logf("pod start latency, warm image, 5 pods/s, %d pods: p50 %s p99 %s max %s", n, lat[n/2], lat[n*99/100], lat[n-1])
	for _, l := range strings.Split(e.agentLog(), "\n") {
		if strings.Contains(l, "pod running") || strings.Contains(l, "took") {
			t.Log(l)
		}
	}
	time.Sleep(3 * time.Second)
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", e.agent.Process.Pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			t.Logf("agent with %d pods: %s", n, strings.Join(strings.Fields(l), " "))
		}
	}
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}
