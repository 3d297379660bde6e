package kubelet

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// specInput is what one start of a container is computed from: the pod
// and container as the API has them, and what was read beforehand from
// the API (env, volumes), the node (the pod's files) and containerd (the
// image's config, the target's process).
type specInput struct {
	pod       *v1.Pod
	container *v1.Container // as in the pod: $(VAR) not expanded
	sandbox   Sandbox
	init      bool
	attempt   int
	opts      ContainerOptions // the resolved env and volume mounts
	// podFiles are the pod's /etc/hosts, /etc/resolv.conf and
	// /etc/hostname, mounted into every container.
	podFiles []specs.Mount
	// terminationLog is the node's file mounted at the container's
	// terminationMessagePath, made empty and writable for any user.
	terminationLog string
	image          ocispec.ImageConfig
	imageID        string
	// targetPID is the process of the running container whose PID
	// namespace an ephemeral container joins (opts.TargetID); 0 for none.
	targetPID     uint32
	nodeName      string
	clusterDomain string
	started       time.Time
}

// containerSpec is everything containerd is asked for one start of a
// container: the process, its namespaces, mounts, cgroup and limits, and
// the labels the agent finds it again by. It is computed without I/O
// (newContainerSpec), so every rule that shapes a container is tested
// with a table; specOpts turns it into containerd's spec options.
type containerSpec struct {
	id string
	// args is the process: command and args with $(VAR) expanded, or
	// the image's entrypoint and cmd where the container leaves them out.
	args []string
	// env is the image's environment (containerd's default PATH when it
	// has none) overridden by the container's, as containerd merges them.
	env      []string
	cwd      string
	tty      bool
	hostname string
	user     specUser
	// namespaces are those joined rather than made: the pod's network,
	// and a target's processes for an ephemeral container.
	namespaces  []specs.LinuxNamespace
	mounts      []specs.Mount
	cgroupsPath string
	memoryLimit uint64 // bytes; 0 for none
	cpuQuota    int64  // µs per cpuPeriod; 0 for none
	cpuPeriod   uint64
	cpuShares   uint64 // 0 for the runtime's default
	privileged  bool
	// caps are the capabilities added to and dropped from the runtime's
	// default set, as containerd's CRI applies them.
	caps           specCaps
	readonlyRootfs bool
	// noNewPrivs sets no_new_privs (setuid files and file capabilities
	// give nothing) only when allowPrivilegeEscalation is false, as the
	// kubelet asks the CRI; containerd's own default spec sets it always.
	noNewPrivs bool
	// sysctls are the pod's (dotted names), set in the container's
	// namespaces by the runtime: the IPC ones in its own, the network
	// ones in the pod's, as containerd's CRI sets them in the sandbox's.
	sysctls     map[string]string
	annotations map[string]string
	labels      map[string]string
}

// specCaps are a securityContext's capabilities as the CRI applies them:
// "ALL" added gives every capability, "ALL" dropped none, and then the
// others (CAP_ prefixed, upper case) are added and dropped.
type specCaps struct {
	addAll, dropAll bool
	add, drop       []string
}

// specUser is who the process runs as. The image's USER may be a name,
// which only the image's /etc/passwd resolves: containerd reads it from
// the container's snapshot when it makes the spec, as it does for the
// primary group of a runAsUser without runAsGroup.
type specUser struct {
	image    string // the image config's User; "" for root
	uid, gid *int64 // runAsUser and runAsGroup, the container's over the pod's
}

const (
	// cfsPeriod is the CFS period of CPU limits, in µs, as the kubelet's.
	cfsPeriod = 100000
	// minShares is the kernel's least cpu.shares.
	minShares = 2
)

// defaultUnixEnv is containerd's environment for an image that has none.
var defaultUnixEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// newContainerSpec computes what containerd needs to start in.container.
// Its only error is a hostname that cannot be made (setHostnameAsFQDN
// with too long a name), upstream's CreateContainerError.
func newContainerSpec(in specInput) (containerSpec, error) {
	pod, c := in.pod, in.container
	hostname, err := containerHostname(pod, in.clusterDomain)
	if err != nil {
		return containerSpec{}, err
	}
	id := containerID(pod, c.Name, in.attempt)
	s := containerSpec{
		id:          id,
		args:        processArgs(c, in.image, envLookup(parseEnv(in.opts.Env))),
		env:         mergeEnv(in.image.Env, in.opts.Env),
		cwd:         in.image.WorkingDir,
		tty:         c.TTY,
		hostname:    hostname,
		user:        runAsUser(pod, c, in.image.User),
		namespaces:  []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: in.sandbox.NetNS}},
		mounts:      append(append([]specs.Mount{}, in.podFiles...), bindMounts(in.opts.Mounts)...),
		cgroupsPath: podCgroup(in.nodeName, pod.UID) + "/" + id,
		privileged:  c.SecurityContext != nil && isTrue(c.SecurityContext.Privileged),
		sysctls:     podSysctls(pod),
		annotations: map[string]string{shimGroupAnnotation: shimGroup(in.nodeName, pod.UID)},
		labels:      containerLabels(in),
	}
	if s.cwd == "" {
		s.cwd = "/"
	}
	if c.WorkingDir != "" {
		s.cwd = c.WorkingDir
	}
	if sc := c.SecurityContext; sc != nil && !s.privileged {
		s.caps = capabilities(sc.Capabilities)
	}
	if sc := c.SecurityContext; sc != nil {
		s.readonlyRootfs = isTrue(sc.ReadOnlyRootFilesystem)
		s.noNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	}
	if c.TerminationMessagePath != "" && in.terminationLog != "" {
		// As the kubelet's makeMounts: after the volumes, read-write.
		s.mounts = append(s.mounts, specs.Mount{Destination: c.TerminationMessagePath, Type: "bind", Source: in.terminationLog, Options: []string{"rbind", "rw"}})
	}
	if c.TTY {
		// As containerd's WithTTY, after the container's own variables.
		s.env = append(s.env, "TERM=xterm")
	}
	if in.targetPID != 0 {
		// As the kubelet asks a runtime that can: the ephemeral container
		// sees the target's processes (kubectl debug --target).
		s.namespaces = append(s.namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: fmt.Sprintf("/proc/%d/ns/pid", in.targetPID)})
	}
	if q, ok := c.Resources.Limits[v1.ResourceMemory]; ok && q.Value() > 0 {
		s.memoryLimit = uint64(q.Value())
	}
	if q, ok := c.Resources.Limits[v1.ResourceCPU]; ok && q.MilliValue() > 0 {
		s.cpuQuota, s.cpuPeriod = q.MilliValue()*cfsPeriod/1000, cfsPeriod
	}
	if q, ok := c.Resources.Requests[v1.ResourceCPU]; ok && q.MilliValue() > 0 {
		s.cpuShares = max(uint64(q.MilliValue()*1024/1000), minShares)
	}
	return s, nil
}

// processArgs is the process as the kubelet asks for it: command and args
// (expanded) replace the image's entrypoint and cmd; args alone replace
// only its cmd.
func processArgs(c *v1.Container, image ocispec.ImageConfig, lookup func(string) (string, bool)) []string {
	command, args := expandAll(c.Command, lookup), expandAll(c.Args, lookup)
	switch {
	case len(command) > 0:
		return append(command, args...)
	case len(args) > 0:
		return append(append([]string{}, image.Entrypoint...), args...)
	}
	return append(append([]string{}, image.Entrypoint...), image.Cmd...)
}

func expandAll(in []string, lookup func(string) (string, bool)) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expandVars(s, lookup)
	}
	return out
}

// parseEnv splits NAME=value variables (a name has no '=').
func parseEnv(env []string) []envVar {
	out := make([]envVar, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, envVar{k, v})
	}
	return out
}

// mergeEnv is the image's variables (containerd's default PATH when it
// has none), each replaced in place by the container's of the same name,
// then the container's others in order, as containerd's WithImageConfig
// and WithEnv merge them.
func mergeEnv(image, container []string) []string {
	if len(image) == 0 {
		image = defaultUnixEnv
	}
	out := append([]string{}, image...)
	at := make(map[string]int, len(out))
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		at[k] = i
	}
	for _, kv := range container {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := at[k]; ok {
			out[i] = kv
			continue
		}
		out = append(out, kv)
	}
	return out
}

// capabilities are the capabilities a securityContext adds and drops; a
// privileged container has them all, whatever it says.
func capabilities(caps *v1.Capabilities) specCaps {
	var out specCaps
	if caps == nil {
		return out
	}
	for _, c := range caps.Add {
		if strings.EqualFold(string(c), "ALL") {
			out.addAll = true
			continue
		}
		out.add = append(out.add, "CAP_"+strings.ToUpper(string(c)))
	}
	for _, c := range caps.Drop {
		if strings.EqualFold(string(c), "ALL") {
			out.dropAll = true
			continue
		}
		out.drop = append(out.drop, "CAP_"+strings.ToUpper(string(c)))
	}
	return out
}

// runAsUser is who c runs as: the image's user unless runAsUser and
// runAsGroup say otherwise, the container's security context over the
// pod's.
func runAsUser(pod *v1.Pod, c *v1.Container, imageUser string) specUser {
	u := specUser{image: imageUser}
	if psc := pod.Spec.SecurityContext; psc != nil {
		u.uid, u.gid = psc.RunAsUser, psc.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			u.uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			u.gid = sc.RunAsGroup
		}
	}
	return u
}

// bindMounts are the volume mounts as OCI bind mounts.
func bindMounts(mounts []Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(mounts))
	for _, m := range mounts {
		o := []string{"rbind", "rw"}
		if m.ReadOnly {
			o = []string{"rbind", "ro"}
		}
		out = append(out, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: o})
	}
	return out
}

// containerLabels are what the agent finds a container again by, after a
// restart too: its pod, name, attempt, kind, image and start.
func containerLabels(in specInput) map[string]string {
	pod, c := in.pod, in.container
	labels := map[string]string{
		labelPodUID: string(pod.UID), labelPodNS: pod.Namespace, labelPodName: pod.Name,
		labelContainer: c.Name, labelAttempt: strconv.Itoa(in.attempt), labelImageID: in.imageID,
		labelStarted: in.started.UTC().Format(time.RFC3339Nano),
	}
	if in.init {
		labels[labelInit] = "true"
	}
	if in.opts.Ephemeral {
		labels[labelEphemeral] = "true"
	}
	if v := stdinLabel(c); v != "" {
		labels[labelStdin] = v
	}
	return labels
}

// podCgroup is the cgroup of a pod's containers, below the node's.
func podCgroup(node string, uid types.UID) string {
	return "/minik8s/" + node + "/" + string(uid)
}

// shimGroup is the runc shim a pod's containers run under (the runc v2
// shim's grouping annotation). The node's pods share a few long-lived shims,
// so starting a task costs runc create but seldom a new shim process, and
// shim memory does not grow per pod. A shim creates one task at a time,
// hence several per node; a pod's containers always share one.
func shimGroup(node string, uid types.UID) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid))
	return fmt.Sprintf("minik8s-%s-%d", node, h.Sum32()%shimGroups)
}

// specOpts are containerd's options making s into an OCI spec, on
// containerd's defaults. Only the user's do I/O: they read the image's
// /etc/passwd and /etc/group in the container's snapshot.
func (s containerSpec) specOpts() []oci.SpecOpts {
	return append(s.specOptsWithoutUser(), s.user.specOpt())
}

// specOptsWithoutUser are the options of everything but the user: they
// only set fields.
func (s containerSpec) specOptsWithoutUser() []oci.SpecOpts {
	opts := []oci.SpecOpts{
		func(_ context.Context, _ oci.Client, _ *containers.Container, spec *oci.Spec) error {
			if spec.Process == nil {
				spec.Process = &specs.Process{}
			}
			spec.Process.Args = s.args
			spec.Process.Env = s.env
			spec.Process.Cwd = s.cwd
			spec.Process.Terminal = s.tty
			spec.Process.NoNewPrivileges = s.noNewPrivs
			return nil
		},
		oci.WithHostname(s.hostname),
		oci.WithAnnotations(s.annotations),
	}
	for _, ns := range s.namespaces {
		opts = append(opts, oci.WithLinuxNamespace(ns))
	}
	opts = append(opts, oci.WithMounts(s.mounts), oci.WithCgroup(s.cgroupsPath))
	if s.memoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(s.memoryLimit))
	}
	if s.cpuPeriod > 0 {
		opts = append(opts, oci.WithCPUCFS(s.cpuQuota, s.cpuPeriod))
	}
	if s.cpuShares > 0 {
		opts = append(opts, oci.WithCPUShares(s.cpuShares))
	}
	if s.privileged {
		opts = append(opts, privilegedOpts()...)
	}
	if s.caps.addAll {
		opts = append(opts, oci.WithAllCurrentCapabilities)
	}
	if s.caps.dropAll {
		opts = append(opts, oci.WithCapabilities(nil))
	}
	if len(s.caps.add) > 0 {
		opts = append(opts, oci.WithAddedCapabilities(s.caps.add))
	}
	if len(s.caps.drop) > 0 {
		opts = append(opts, oci.WithDroppedCapabilities(s.caps.drop))
	}
	if s.readonlyRootfs {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if len(s.sysctls) > 0 {
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, spec *oci.Spec) error {
			if spec.Linux == nil {
				spec.Linux = &specs.Linux{}
			}
			if spec.Linux.Sysctl == nil {
				spec.Linux.Sysctl = map[string]string{}
			}
			maps.Copy(spec.Linux.Sysctl, s.sysctls)
			return nil
		})
	}
	return opts
}

// specOpt sets the process' user as containerd's WithImageConfig does
// for the image's USER (with the user's supplementary groups), then
// runAsUser and runAsGroup over it.
func (u specUser) specOpt() oci.SpecOpts {
	return func(ctx context.Context, client oci.Client, c *containers.Container, s *oci.Spec) error {
		if u.image != "" {
			if err := oci.WithUser(u.image)(ctx, client, c, s); err != nil {
				return err
			}
			if err := oci.WithAdditionalGIDs(strconv.FormatUint(uint64(s.Process.User.UID), 10))(ctx, client, c, s); err != nil {
				return err
			}
		} else if err := oci.WithAdditionalGIDs("root")(ctx, client, c, s); err != nil {
			return err
		}
		if u.uid != nil {
			if err := oci.WithUserID(uint32(*u.uid))(ctx, client, c, s); err != nil {
				return err
			}
		}
		if u.gid != nil {
			s.Process.User.GID = uint32(*u.gid)
		}
		return nil
	}
}
