package kubelet

import (
	"context"
	"io"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Sandbox is a pod's network: its namespace file and address.
type Sandbox struct {
	NetNS string `json:"netns"`
	IP    string `json:"ip"`
}

// ContainerInfo is what the runtime knows about one container.
type ContainerInfo struct {
	ID      string
	PodUID  types.UID
	PodNS   string
	PodName string
	Name    string
	Attempt int
	Init    bool
	// Ephemeral: one of the pod's ephemeral containers (kubectl debug).
	Ephemeral bool
	Running   bool
	Started   time.Time
	Finished  time.Time
	ExitCode  int
	Reason    string // OOMKilled when the kernel killed it
	ImageRef  string
	ImageID   string
}

// Mount is a bind mount of a host path into a container.
type Mount struct {
	Source, Destination string
	ReadOnly            bool
}

// ContainerOptions are what the worker resolved for one start of a
// container: its environment (NAME=value) and its volume mounts. The
// runtime expands $(VAR) in the container's command and args with the
// environment (newContainerSpec).
type ContainerOptions struct {
	Env    []string
	Mounts []Mount
	// Ephemeral: c is one of the pod's ephemeral containers; TargetID,
	// when set, is the running container whose process namespace it
	// joins (targetContainerName).
	Ephemeral bool
	TargetID  string
}

// StartError is a container made whose process could not be started
// (runc failed: a missing executable, a bad working directory or mount).
// The kubelet reports such a container as terminated with exit code 128
// and reason StartError, so its restart policy applies as to any exit.
type StartError struct{ Err error }

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// ExitInfo is how a container ended.
type ExitInfo struct {
	Code     int
	Reason   string
	Finished time.Time
}

// TermSize is a terminal's size for exec with a TTY.
type TermSize struct{ Width, Height uint16 }

// ExecOptions are the streams of an exec; nil streams are not attached.
type ExecOptions struct {
	Cmd    []string
	TTY    bool
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Resize <-chan TermSize
}

// Runtime is what a pod worker needs from containerd and CNI. Everything is
// idempotent: SetupSandbox returns the existing sandbox of an adopted pod.
type Runtime interface {
	SetupSandbox(ctx context.Context, pod *v1.Pod) (Sandbox, error)
	TeardownSandbox(ctx context.Context, uid types.UID) error
	// RemovePodFiles removes what is left of a deleted pod: logs, volumes,
	// cgroups.
	RemovePodFiles(ctx context.Context, uid types.UID) error
	ImagePresent(ctx context.Context, ref string) (imageID string, ok bool, err error)
	PullImage(ctx context.Context, ref string) (imageID string, err error)
	// StartContainer creates and starts attempt number attempt of c.
	StartContainer(ctx context.Context, pod *v1.Pod, sb Sandbox, c *v1.Container, init bool, attempt int, opts ContainerOptions) (ContainerInfo, error)
	// Wait returns a channel that yields once when the container's task exits.
	Wait(ctx context.Context, id string) (<-chan ExitInfo, error)
	// StopContainer sends SIGTERM, waits up to grace, then SIGKILL; it
	// returns once the task has exited.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	RemoveContainer(ctx context.Context, id string) error
	ListContainers(ctx context.Context) ([]ContainerInfo, error)
	Exec(ctx context.Context, id string, opts ExecOptions) (exitCode int, err error)
	// Attach connects a client to container id when it was started
	// with stdin: true: the output from now on, as it comes, to
	// opts.Stdout and opts.Stderr, opts.Stdin to its stdin, opts.Resize
	// to its terminal; it returns when the container's output ends, ctx
	// ends, the client goes, or the client's stdin ends (with stdinOnce
	// and no tty that closes the container's stdin, and the output goes
	// on to the end). errNoStdin for any other container.
	Attach(ctx context.Context, id string, opts ExecOptions) error
	// LogPath is the file holding the output of one attempt of a container.
	LogPath(uid types.UID, container string, attempt int) string
}
