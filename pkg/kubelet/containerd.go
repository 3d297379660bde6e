package kubelet

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/content"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"minik8s/pkg/cgroup"
)

const (
	labelPodUID    = "minik8s.io/pod-uid"
	labelPodNS     = "minik8s.io/pod-namespace"
	labelPodName   = "minik8s.io/pod-name"
	labelContainer = "minik8s.io/container-name"
	labelAttempt   = "minik8s.io/attempt"
	labelInit      = "minik8s.io/init"
	labelEphemeral = "minik8s.io/ephemeral"
	labelImageID   = "minik8s.io/image-id"
	labelStarted   = "minik8s.io/started-at"
	labelExitCode  = "minik8s.io/exit-code"
	labelFinished  = "minik8s.io/finished-at"
	labelReason    = "minik8s.io/reason"
	snapshotter    = "overlayfs"

	shimGroupAnnotation = "io.containerd.runc.v2.group"
	shimGroups          = 4
)

// containerdRuntime is the Runtime on containerd and CNI.
type containerdRuntime struct {
	cfg     *Config
	client  *containerd.Client
	ns      string
	network *network
	images  *imageService
	podsDir string
	fifoDir string
	logger  string // the logging binary the shims start per container

	stdins stdinIOs // containers started with an open stdin

	leaseMu    sync.Mutex
	leaseID    string
	leaseSince time.Time
}

const (
	// leaseLife is how long containerd keeps the agent's shared lease; a
	// new one is taken every leaseRotate, so an old one holds nothing new
	// for long before it expires and containerd collects it.
	leaseLife   = time.Hour
	leaseRotate = 10 * time.Minute
)

// withLease puts the agent's current lease on ctx. Creating a container
// under a lease the agent already holds spares containerd a lease create
// and a lease delete (two metadata transactions, each synced to disk, and a
// garbage collection) per container: the main cost of starting many at
// once. Containers keep their snapshots by reference, not by the lease.
func (r *containerdRuntime) withLease(ctx context.Context) context.Context {
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	if r.leaseID == "" || time.Since(r.leaseSince) > leaseRotate {
		l, err := r.client.LeasesService().Create(ctx, leases.WithRandomID(), leases.WithExpiration(leaseLife),
			leases.WithLabels(map[string]string{"minik8s.io/node": r.cfg.NodeName}))
		if err != nil {
			klog.FromContext(ctx).V(1).Info("creating a containerd lease; containers get one each", "err", err)
			return ctx
		}
		r.leaseID, r.leaseSince = l.ID, time.Now()
	}
	return leases.WithLease(ctx, r.leaseID)
}

var _ Runtime = (*containerdRuntime)(nil)

// connectContainerd connects to containerd, waiting for it while it is
// not up (being restarted, or started after the agent), as the kubelet
// waits for its container runtime instead of exiting: an agent that
// exited then would be restarted later and later by its supervisor.
// Only the end of ctx ends the wait.
func connectContainerd(ctx context.Context, cfg *Config) (*containerd.Client, error) {
	for logged := false; ; {
		client, err := containerd.New(cfg.ContainerdAddress, containerd.WithDefaultNamespace(cfg.ContainerdNamespace), containerd.WithTimeout(2*time.Second))
		if err == nil {
			return client, nil
		}
		if !logged {
			klog.FromContext(ctx).Info("waiting for containerd", "address", cfg.ContainerdAddress, "err", err)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to containerd at %s: %w", cfg.ContainerdAddress, err)
		case <-time.After(time.Second):
		}
	}
}

func newContainerdRuntime(ctx context.Context, cfg *Config) (*containerdRuntime, error) {
	client, err := connectContainerd(ctx, cfg)
	if err != nil {
		return nil, err
	}
	mirrors, err := parseMirrors(cfg.RegistryMirrors)
	if err != nil {
		client.Close()
		return nil, err
	}
	logger, err := findLogger(cfg.ContainerLogger)
	if err != nil {
		client.Close()
		return nil, err
	}
	r := &containerdRuntime{
		cfg: cfg, client: client, ns: cfg.ContainerdNamespace,
		podsDir: filepath.Join(cfg.StateDir, "pods"),
		fifoDir: filepath.Join(cfg.StateDir, "fifo"),
		logger:  logger,
	}
	r.images = newImageService(client, mirrors, cfg.InsecureRegistries)
	r.network = newNetwork(cfg, r.podsDir)
	for _, d := range []string{r.podsDir, r.fifoDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			client.Close()
			return nil, err
		}
	}
	return r, nil
}

func (r *containerdRuntime) Close() error { return r.client.Close() }

// loggerName is the logging binary (cmd/container-logger): containerd's
// shim starts one per container and it writes the container's output, with
// timestamps, to the container's log file, so output is kept while the
// agent is down.
const loggerName = "container-logger"

// findLogger gives the logging binary's absolute path (the shim needs
// one): given (--container-logger, as the lab passes it), else beside the
// agent's executable, else on $PATH.
func findLogger(given string) (string, error) {
	if given != "" {
		p, err := filepath.Abs(given)
		if err == nil {
			_, err = os.Stat(p)
		}
		if err != nil {
			return "", fmt.Errorf("--container-logger: %w", err)
		}
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), loggerName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath(loggerName); err == nil {
		return filepath.Abs(p)
	}
	return "", fmt.Errorf("%s not found beside the agent's executable or on $PATH: build it with `CGO_ENABLED=0 go build -o bin/ ./cmd/...`", loggerName)
}

// logIO has the shim hand the container's output to the logging binary,
// which appends it to path.
func (r *containerdRuntime) logIO(path string, tty bool) cio.Creator {
	args := map[string]string{"--path": path}
	if tty {
		return cio.TerminalBinaryIO(r.logger, args)
	}
	return cio.BinaryIO(r.logger, args)
}

func (r *containerdRuntime) nsCtx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.ns)
}

func (r *containerdRuntime) version(ctx context.Context) string {
	v, err := r.client.Version(r.nsCtx(ctx))
	if err != nil {
		return "unknown"
	}
	return v.Version
}

func (r *containerdRuntime) healthy(ctx context.Context) error {
	ok, err := r.client.IsServing(r.nsCtx(ctx))
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("containerd is not serving")
	}
	return nil
}

func (r *containerdRuntime) SetupSandbox(ctx context.Context, pod *v1.Pod) (Sandbox, error) {
	return r.network.setup(ctx, pod)
}

func (r *containerdRuntime) TeardownSandbox(ctx context.Context, uid types.UID) error {
	return r.network.teardown(ctx, uid)
}

func (r *containerdRuntime) RemovePodFiles(ctx context.Context, uid types.UID) error {
	removeCgroups(r.cgroupParent(uid))
	dir := filepath.Join(r.podsDir, string(uid))
	unmountBelow(dir) // tmpfs volumes
	return os.RemoveAll(dir)
}

func (r *containerdRuntime) cgroupParent(uid types.UID) string {
	return podCgroup(r.cfg.NodeName, uid)
}

// hostCgroups is the host's cgroup file system (v1 or v2), detected once.
var hostCgroups = sync.OnceValues(func() (*cgroup.FS, error) { return cgroup.Detect(cgroup.Root) })

// detectedCgroups is the host's cgroup file system, nil if none was found.
func detectedCgroups() *cgroup.FS {
	c, _ := hostCgroups()
	return c
}

// removeCgroups removes a pod's cgroups, which runc leaves behind: the
// pod's and its containers', in every v1 hierarchy or in the v2 tree.
func removeCgroups(rel string) {
	if c, err := hostCgroups(); err == nil {
		_ = c.Remove(rel)
	}
}

func (r *containerdRuntime) ImagePresent(ctx context.Context, ref string) (string, bool, error) {
	return r.images.present(r.nsCtx(ctx), ref)
}

func (r *containerdRuntime) PullImage(ctx context.Context, ref string) (string, error) {
	return r.images.pull(r.nsCtx(ctx), ref)
}

func (r *containerdRuntime) LogPath(uid types.UID, container string, attempt int) string {
	return filepath.Join(r.podsDir, string(uid), "logs", container, strconv.Itoa(attempt)+".log")
}

// containerID is readable and short enough for containerd (76 characters),
// and one of its identifiers: a name cut where it has a dash loses the
// dash, as containerd refuses two separators in a row.
func containerID(pod *v1.Pod, name string, attempt int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%s/%d", pod.UID, name, attempt)))
	short := name
	if len(short) > 40 {
		short = strings.TrimRight(short[:40], "-.")
	}
	return fmt.Sprintf("%s-%s-%d", short, hex.EncodeToString(sum[:])[:12], attempt)
}

func (r *containerdRuntime) StartContainer(ctx context.Context, pod *v1.Pod, sb Sandbox, c *v1.Container, init bool, attempt int, copts ContainerOptions) (ContainerInfo, error) {
	ctx = r.nsCtx(ctx)
	image, in, err := r.specInput(ctx, pod, sb, c, init, attempt, copts)
	if err != nil {
		return ContainerInfo{}, err
	}
	now := time.Now()
	in.started = now
	spec, err := newContainerSpec(in)
	if err != nil {
		return ContainerInfo{}, err
	}
	id, imageID := spec.id, in.imageID
	tCreate := time.Now()
	newContainer := func() (containerd.Container, error) {
		return r.client.NewContainer(r.withLease(ctx), id,
			containerd.WithImage(image),
			containerd.WithSnapshotter(snapshotter),
			timed("snapshot", containerd.WithNewSnapshot(id, image)),
			timed("spec", containerd.WithNewSpec(spec.specOpts()...)),
			containerd.WithContainerLabels(spec.labels),
			containerd.WithRuntime("io.containerd.runc.v2", nil),
		)
	}
	container, err := newContainer()
	if errdefs.IsAlreadyExists(err) {
		// The leftover of a start that crashed half-way (container, or
		// only its snapshot) is ours to replace.
		if err := r.RemoveContainer(ctx, id); err != nil {
			return ContainerInfo{}, fmt.Errorf("removing the leftover container %s: %w", id, err)
		}
		if err := r.client.SnapshotService(snapshotter).Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
			return ContainerInfo{}, fmt.Errorf("removing the leftover snapshot %s: %w", id, err)
		}
		container, err = newContainer()
	}
	if err != nil {
		return ContainerInfo{}, fmt.Errorf("creating container: %w", err)
	}
	observeStep("container_create", tCreate)
	logPath := r.LogPath(pod.UID, c.Name, attempt)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return ContainerInfo{}, err
	}
	ioc := r.logIO(logPath, c.TTY)
	if c.Stdin {
		if ioc, err = r.stdinCreator(id, logPath, c); err != nil {
			_ = container.Delete(ctx, containerd.WithSnapshotCleanup)
			return ContainerInfo{}, err
		}
	}
	tTask := time.Now()
	task, err := newTask(ctx, container, ioc)
	if err != nil {
		// The ID goes back with the error: should this clean-up fail
		// (containerd went away), the worker removes the container
		// before the next attempt.
		_ = container.Delete(ctx, containerd.WithSnapshotCleanup)
		return ContainerInfo{ID: id}, &StartError{fmt.Errorf("failed to create containerd task: %w", err)}
	}
	observeStep("task_create", tTask)
	tStart := time.Now()
	if err := task.Start(ctx); err != nil {
		_, _ = task.Delete(ctx, containerd.WithProcessKill)
		_ = container.Delete(ctx, containerd.WithSnapshotCleanup)
		return ContainerInfo{ID: id}, &StartError{fmt.Errorf("failed to start containerd task: %w", err)}
	}
	observeStep("task_start", tStart)
	klog.FromContext(ctx).V(2).Info("container timing", "container", c.Name,
		"prepare", tCreate.Sub(now).Round(time.Millisecond), "create", tTask.Sub(tCreate).Round(time.Millisecond),
		"task", tStart.Sub(tTask).Round(time.Millisecond), "start", time.Since(tStart).Round(time.Millisecond))
	return ContainerInfo{ID: id, PodUID: pod.UID, PodNS: pod.Namespace, PodName: pod.Name, Name: c.Name,
		Attempt: attempt, Init: init, Ephemeral: copts.Ephemeral, Running: true, Started: now, ImageRef: c.Image, ImageID: imageID}, nil
}

// newTask creates the container's task, again when the pod's shim group
// went away under it. A group's shim exits once its last task is deleted,
// so a task created while another container of the group ends can be
// handed the address of a shim about to exit: containerd then fails to
// dial it ("failed to start shim: … connect: no such file or directory"),
// the connection closes, or the shim takes the create and shuts down
// during it (runc's create is cancelled: "OCI runtime create failed: …:
// shutdown"). A new attempt starts a new shim. (The kubelet never meets
// this: the pause container keeps a pod's shim alive.)
func newTask(ctx context.Context, container containerd.Container, ioc cio.Creator) (containerd.Task, error) {
	for attempt := 1; ; attempt++ {
		task, err := container.NewTask(ctx, ioc)
		if err == nil || attempt == 3 || !shimGone(err) || ctx.Err() != nil {
			return task, err
		}
		klog.FromContext(ctx).V(2).Info("task create: the shim went away, again", "container", container.ID(), "err", err)
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
}

// shimGone tells a task create that failed because its shim exited, from
// the message containerd passes on (its errors lose their types in gRPC).
func shimGone(err error) bool {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "failed to start shim") &&
		(strings.Contains(msg, "no such file or directory") || strings.Contains(msg, "connection refused")):
		return true
	case strings.Contains(msg, "ttrpc: closed"):
		return true
	case strings.Contains(msg, "failed to create shim task") && strings.Contains(msg, ": shutdown"):
		return true
	}
	return false
}

// specInput reads what a start of c is computed from beyond the pod:
// the image and its config, the pod's files, the target's process.
func (r *containerdRuntime) specInput(ctx context.Context, pod *v1.Pod, sb Sandbox, c *v1.Container, init bool, attempt int, copts ContainerOptions) (containerd.Image, specInput, error) {
	image, err := r.client.GetImage(ctx, normalizeRef(c.Image))
	if err != nil {
		return nil, specInput{}, fmt.Errorf("image %s: %w", c.Image, err)
	}
	config, err := imageConfig(ctx, image)
	if err != nil {
		return nil, specInput{}, fmt.Errorf("image %s: %w", c.Image, err)
	}
	podFiles, err := r.network.podMounts(pod)
	if err != nil {
		return nil, specInput{}, err
	}
	in := specInput{
		pod: pod, container: c, sandbox: sb, init: init, attempt: attempt, opts: copts,
		podFiles: podFiles, image: config, imageID: r.images.imageID(ctx, image),
		nodeName: r.cfg.NodeName, clusterDomain: r.cfg.ClusterDomain,
	}
	if c.TerminationMessagePath != "" {
		if in.terminationLog, err = r.terminationLog(pod.UID, c.Name, attempt); err != nil {
			return nil, specInput{}, err
		}
	}
	if copts.TargetID != "" {
		_, target, err := r.task(ctx, copts.TargetID)
		if err != nil {
			return nil, specInput{}, fmt.Errorf("target container %s: %w", copts.TargetID, err)
		}
		in.targetPID = target.Pid()
	}
	return image, in, nil
}

// terminationLog makes the empty file an attempt of a container writes
// its termination message to: beside the attempt's log, so it goes with
// the pod's files (the same path as the worker's terminationLogPath,
// which reads it), mode 0666 whatever the umask, as the kubelet's.
func (r *containerdRuntime) terminationLog(uid types.UID, container string, attempt int) (string, error) {
	logPath := r.LogPath(uid, container, attempt)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return "", err
	}
	path := strings.TrimSuffix(logPath, ".log") + ".termination-log"
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		return "", fmt.Errorf("creating the termination message file: %w", err)
	}
	return path, os.Chmod(path, 0o666)
}

// imageConfig is the image's runtime config (entrypoint, cmd, env,
// working directory, user), read from the content store as containerd's
// WithImageConfig reads it.
func imageConfig(ctx context.Context, image containerd.Image) (ocispec.ImageConfig, error) {
	desc, err := image.Config(ctx)
	if err != nil {
		return ocispec.ImageConfig{}, err
	}
	switch desc.MediaType {
	case ocispec.MediaTypeImageConfig, images.MediaTypeDockerSchema2Config:
	default:
		return ocispec.ImageConfig{}, fmt.Errorf("unknown image config media type %s", desc.MediaType)
	}
	b, err := content.ReadBlob(ctx, image.ContentStore(), desc)
	if err != nil {
		return ocispec.ImageConfig{}, err
	}
	var img ocispec.Image
	if err := json.Unmarshal(b, &img); err != nil {
		return ocispec.ImageConfig{}, fmt.Errorf("decoding the image config: %w", err)
	}
	return img.Config, nil
}

// timed records how long a container option takes (the snapshot and the
// spec are made client-side, inside NewContainer).
func timed(step string, opt containerd.NewContainerOpts) containerd.NewContainerOpts {
	return func(ctx context.Context, client *containerd.Client, c *containers.Container) error {
		defer observeStep(step, time.Now())
		return opt(ctx, client, c)
	}
}

func (r *containerdRuntime) task(ctx context.Context, id string) (containerd.Container, containerd.Task, error) {
	container, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	task, err := container.Task(ctx, nil)
	if err != nil {
		return container, nil, err
	}
	return container, task, nil
}

func (r *containerdRuntime) Wait(ctx context.Context, id string) (<-chan ExitInfo, error) {
	ctx = r.nsCtx(ctx)
	container, task, err := r.task(ctx, id)
	if err != nil && (container == nil || !errdefs.IsNotFound(err)) {
		return nil, err
	}
	if task != nil {
		if err := r.reattach(ctx, container); err != nil {
			klog.FromContext(ctx).Error(err, "taking over a container's stdin and output", "id", id)
		}
	}
	out := make(chan ExitInfo, 1)
	if task == nil {
		// Exited and cleaned up while no agent watched: the labels hold
		// how it ended.
		out <- exitFromLabels(ctx, container)
		return out, nil
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			st := <-ch
			if st.Error() == nil {
				code, at, _ := st.Result()
				info := r.exitInfo(ctx, container, code, at)
				r.recordExit(ctx, container, task, info)
				out <- info
				return
			}
			if ctx.Err() != nil {
				return // agent stopping
			}
			// containerd went away (killed, restarted): the task lives
			// on in its shim; wait on it again once containerd is back,
			// so that its exit, now or later, is not missed.
			klog.FromContext(ctx).V(2).Info("waiting for a container: containerd went away, waiting again", "id", id, "err", st.Error())
			if task, ch = r.waitAgain(ctx, container, out); ch == nil {
				return
			}
		}
	}()
	return out, nil
}

// waitAgain waits on container's task again after containerd went away,
// trying each second until containerd answers. When the task is gone
// (containerd lost it with its shim) the labels' exit, or Unknown, goes
// to out; a container that was removed meanwhile gets nothing.
func (r *containerdRuntime) waitAgain(ctx context.Context, container containerd.Container, out chan<- ExitInfo) (containerd.Task, <-chan containerd.ExitStatus) {
	for {
		if !sleepCtx(ctx, time.Second) {
			return nil, nil
		}
		c, task, err := r.task(ctx, container.ID())
		switch {
		case err != nil && c == nil && errdefs.IsNotFound(err):
			return nil, nil
		case err != nil && c != nil && errdefs.IsNotFound(err):
			out <- exitFromLabels(ctx, c)
			return nil, nil
		case err != nil:
			continue // containerd still down
		}
		ch, err := task.Wait(ctx)
		if err != nil {
			continue
		}
		return task, ch
	}
}

func (r *containerdRuntime) cgroupPathOf(ctx context.Context, c containerd.Container) string {
	spec, err := c.Spec(ctx)
	if err != nil || spec.Linux == nil {
		return ""
	}
	return spec.Linux.CgroupsPath
}

// oomKilled reports whether the kernel's OOM killer killed a process of
// the container's cgroup: the oom_kill counter of memory.oom_control
// (cgroup v1) or memory.events (v2).
func oomKilled(cg string) bool {
	if cg == "" {
		return false
	}
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup/memory", cg, "memory.oom_control"),
		filepath.Join("/sys/fs/cgroup", cg, "memory.events"),
	} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
				return strings.TrimSpace(v) != "0"
			}
		}
	}
	return false
}

// exitInfo is how a task ended; OOMKilled when it failed and the kernel
// killed one of its processes for memory.
func (r *containerdRuntime) exitInfo(ctx context.Context, c containerd.Container, code uint32, at time.Time) ExitInfo {
	if at.IsZero() {
		at = time.Now()
	}
	info := ExitInfo{Code: int(code), Finished: at}
	if code != 0 && oomKilled(r.cgroupPathOf(ctx, c)) {
		info.Reason = "OOMKilled"
	}
	return info
}

// recordExit keeps the exit in the container's labels and deletes the task
// (so its shim exits); the container and its log stay until removed.
func (r *containerdRuntime) recordExit(ctx context.Context, c containerd.Container, task containerd.Task, info ExitInfo) {
	ctx = context.WithoutCancel(ctx)
	labels := map[string]string{labelExitCode: strconv.Itoa(info.Code), labelFinished: info.Finished.UTC().Format(time.RFC3339Nano)}
	if info.Reason != "" {
		labels[labelReason] = info.Reason
	}
	if _, err := c.SetLabels(ctx, labels); err != nil && !errdefs.IsNotFound(err) {
		klog.FromContext(ctx).Error(err, "recording exit", "id", c.ID())
	}
	if _, err := task.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		klog.FromContext(ctx).V(2).Info("deleting exited task", "id", c.ID(), "err", err)
	}
}

func exitFromLabels(ctx context.Context, c containerd.Container) ExitInfo {
	labels, _ := c.Labels(ctx)
	info := ExitInfo{Code: 255, Reason: "Unknown"}
	if v, ok := labels[labelExitCode]; ok {
		info.Code, _ = strconv.Atoi(v)
		info.Reason = labels[labelReason]
	}
	info.Finished, _ = time.Parse(time.RFC3339Nano, labels[labelFinished])
	return info
}

func (r *containerdRuntime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.nsCtx(ctx)
	_, task, err := r.task(ctx, id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-ch:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("container %s did not exit after SIGKILL", id)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *containerdRuntime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.nsCtx(ctx)
	container, task, err := r.task(ctx, id)
	if err != nil && container == nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if task != nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("deleting task: %w", err)
		}
	}
	if err := container.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("deleting container: %w", err)
	}
	return nil
}

func (r *containerdRuntime) ListContainers(ctx context.Context) ([]ContainerInfo, error) {
	ctx = r.nsCtx(ctx)
	list, err := r.client.Containers(ctx)
	if err != nil {
		return nil, err
	}
	var out []ContainerInfo
	for _, c := range list {
		labels, err := c.Labels(ctx)
		if err != nil || labels[labelPodUID] == "" {
			continue
		}
		ci := ContainerInfo{ID: c.ID(), PodUID: types.UID(labels[labelPodUID]), PodNS: labels[labelPodNS], PodName: labels[labelPodName],
			Name: labels[labelContainer], Init: labels[labelInit] == "true", Ephemeral: labels[labelEphemeral] == "true",
			ImageID: labels[labelImageID]}
		ci.Attempt, _ = strconv.Atoi(labels[labelAttempt])
		ci.Started, _ = time.Parse(time.RFC3339Nano, labels[labelStarted])
		if task, err := c.Task(ctx, nil); err == nil {
			st, err := task.Status(ctx)
			if err != nil {
				return nil, fmt.Errorf("container %s: task status: %w", c.ID(), err)
			}
			if st.Status == containerd.Created {
				// A start cut off between the task's create and start
				// (the agent was killed): it never ran. Removed, and its
				// worker starts the container again.
				klog.FromContext(ctx).Info("removing a container whose start was cut off", "id", c.ID(), "pod", ci.PodNS+"/"+ci.PodName)
				if err := r.RemoveContainer(ctx, c.ID()); err != nil {
					return nil, fmt.Errorf("removing container %s, created and never started: %w", c.ID(), err)
				}
				continue
			}
			if st.Status != containerd.Stopped {
				ci.Running = true
			} else {
				e := r.exitInfo(ctx, c, st.ExitStatus, st.ExitTime)
				ci.ExitCode, ci.Reason, ci.Finished = e.Code, e.Reason, e.Finished
				r.recordExit(ctx, c, task, e)
			}
		} else if errdefs.IsNotFound(err) {
			e := exitFromLabels(ctx, c)
			ci.ExitCode, ci.Reason, ci.Finished = e.Code, e.Reason, e.Finished
		} else {
			return nil, fmt.Errorf("container %s: %w", c.ID(), err)
		}
		out = append(out, ci)
	}
	return out, nil
}

// cleanupOrphans removes sandboxes and files of pods not in known.
func (r *containerdRuntime) cleanupOrphans(ctx context.Context, known map[types.UID]bool) {
	entries, _ := os.ReadDir(r.podsDir)
	for _, e := range entries {
		uid := types.UID(e.Name())
		if known[uid] {
			continue
		}
		klog.FromContext(ctx).Info("cleaning up a pod that no longer exists", "uid", uid)
		if err := r.TeardownSandbox(ctx, uid); err != nil {
			klog.FromContext(ctx).Error(err, "tearing down orphan sandbox", "uid", uid)
		}
		_ = r.RemovePodFiles(ctx, uid)
	}
	r.network.cleanupOrphanNetns(ctx, known)
}

// stdinCloser closes the process' stdin once the client's stdin ends.
type stdinCloser struct {
	r      io.Reader
	closer func()
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF && s.closer != nil {
		s.closer()
		s.closer = nil
	}
	return n, err
}

func (r *containerdRuntime) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	ctx = r.nsCtx(ctx)
	container, task, err := r.task(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("container %s is not running: %w", id, err)
	}
	spec, err := container.Spec(ctx)
	if err != nil {
		return -1, err
	}
	pspec := *spec.Process
	pspec.Args = opts.Cmd
	pspec.Terminal = opts.TTY
	var b [6]byte
	_, _ = rand.Read(b[:])
	execID := "exec-" + hex.EncodeToString(b[:])
	var process containerd.Process
	var stdin io.Reader
	if opts.Stdin != nil {
		stdin = &stdinCloser{r: opts.Stdin, closer: func() {
			if process != nil {
				_ = process.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser)
			}
		}}
	}
	cioOpts := []cio.Opt{cio.WithStreams(stdin, opts.Stdout, opts.Stderr), cio.WithFIFODir(r.fifoDir)}
	if opts.TTY {
		cioOpts = append(cioOpts, cio.WithTerminal)
	}
	process, err = task.Exec(ctx, execID, &pspec, cio.NewCreator(cioOpts...))
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	bg := context.WithoutCancel(ctx)
	defer func() { _, _ = process.Delete(bg, containerd.WithProcessKill) }()
	ch, err := process.Wait(bg)
	if err != nil {
		return -1, err
	}
	if err := process.Start(ctx); err != nil {
		return -1, fmt.Errorf("starting exec: %w", err)
	}
	if opts.Resize != nil {
		go func() {
			for sz := range opts.Resize {
				_ = process.Resize(bg, uint32(sz.Width), uint32(sz.Height))
			}
		}()
	}
	select {
	case st := <-ch:
		process.IO().Wait()
		code, _, err := st.Result()
		return int(code), err
	case <-ctx.Done():
		_ = process.Kill(bg, syscall.SIGKILL)
		<-ch
		process.IO().Cancel()
		return -1, ctx.Err()
	}
}

// normalizeRef makes a reference fully qualified: minik8s/echo →
// docker.io/minik8s/echo:latest.
func normalizeRef(ref string) string {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return ref
	}
	return named.String()
}
