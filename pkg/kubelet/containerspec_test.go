package kubelet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/identifiers"
	"github.com/google/go-cmp/cmp"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNewContainerSpec(t *testing.T) {
	started := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	basePod := func() *v1.Pod {
		return &v1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "uid-1"},
			Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "img"}}},
		}
	}
	podFiles := []specs.Mount{{Destination: "/etc/hosts", Type: "bind", Source: "/pods/uid-1/hosts", Options: []string{"rbind", "rw"}}}
	image := ocispec.ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"serve", "--port=80"},
		Env: []string{"PATH=/image/bin", "LANG=C"}, WorkingDir: "/app", User: "nobody"}
	// want is the spec of basePod's container with image: each case
	// changes what it is about.
	want := func(mod func(s *containerSpec)) containerSpec {
		id := containerID(basePod(), "c", 0)
		s := containerSpec{
			id:          id,
			args:        []string{"/entry", "serve", "--port=80"},
			env:         []string{"PATH=/image/bin", "LANG=C"},
			cwd:         "/app",
			hostname:    "p",
			user:        specUser{image: "nobody"},
			namespaces:  []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/run/netns/p"}},
			mounts:      podFiles,
			cgroupsPath: "/minik8s/n1/uid-1/" + id,
			annotations: map[string]string{shimGroupAnnotation: shimGroup("n1", "uid-1")},
			labels: map[string]string{labelPodUID: "uid-1", labelPodNS: "ns", labelPodName: "p", labelContainer: "c",
				labelAttempt: "0", labelImageID: "docker.io/library/img@sha256:1", labelStarted: "2026-12-04T22:00:00Z"},
		}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	uid := func(v int64) *int64 { return &v }
	tests := []struct {
		name string
		mod  func(in *specInput)
		want containerSpec
	}{
		{name: "the image's process, env, cwd and user", want: want(nil)},
		{
			name: "command and args replace entrypoint and cmd, $(VAR) expanded",
			mod: func(in *specInput) {
				in.container.Command = []string{"sh", "-c"}
				in.container.Args = []string{"echo $(GREETING) $(MISSING) $$(GREETING)"}
				in.opts.Env = []string{"GREETING=hi"}
			},
			want: want(func(s *containerSpec) {
				s.args = []string{"sh", "-c", "echo hi $(MISSING) $(GREETING)"}
				s.env = []string{"PATH=/image/bin", "LANG=C", "GREETING=hi"}
			}),
		},
		{
			name: "args alone replace only cmd",
			mod:  func(in *specInput) { in.container.Args = []string{"--verbose"} },
			want: want(func(s *containerSpec) { s.args = []string{"/entry", "--verbose"} }),
		},
		{
			name: "the container's variables replace the image's in place",
			mod:  func(in *specInput) { in.opts.Env = []string{"EXTRA=1", "PATH=/mine", "EMPTY="} },
			want: want(func(s *containerSpec) { s.env = []string{"PATH=/mine", "LANG=C", "EXTRA=1", "EMPTY="} }),
		},
		{
			name: "an image without env or working dir gets containerd's PATH and /",
			mod: func(in *specInput) {
				in.image = ocispec.ImageConfig{Cmd: []string{"/bin/app"}}
				in.opts.Env = []string{"A=b"}
			},
			want: want(func(s *containerSpec) {
				s.args = []string{"/bin/app"}
				s.env = []string{defaultUnixEnv[0], "A=b"}
				s.cwd = "/"
				s.user = specUser{}
			}),
		},
		{
			name: "workingDir, tty and stdin",
			mod: func(in *specInput) {
				in.container.WorkingDir = "/work"
				in.container.TTY, in.container.Stdin, in.container.StdinOnce = true, true, true
			},
			want: want(func(s *containerSpec) {
				s.cwd, s.tty = "/work", true
				s.env = append(s.env, "TERM=xterm")
				s.labels[labelStdin] = "once"
			}),
		},
		{
			name: "the container's runAsUser over the pod's, the pod's runAsGroup",
			mod: func(in *specInput) {
				in.pod.Spec.SecurityContext = &v1.PodSecurityContext{RunAsUser: uid(1000), RunAsGroup: uid(3000)}
				in.container.SecurityContext = &v1.SecurityContext{RunAsUser: uid(2000)}
			},
			want: want(func(s *containerSpec) { s.user = specUser{image: "nobody", uid: uid(2000), gid: uid(3000)} }),
		},
		{
			name: "privileged",
			mod: func(in *specInput) {
				in.container.SecurityContext = &v1.SecurityContext{Privileged: ptrBool(true)}
			},
			want: want(func(s *containerSpec) { s.privileged = true }),
		},
		{
			name: "capabilities added and dropped, CAP_ prefixed, ALL apart",
			mod: func(in *specInput) {
				in.container.SecurityContext = &v1.SecurityContext{Capabilities: &v1.Capabilities{
					Add: []v1.Capability{"net_admin", "SYS_PTRACE"}, Drop: []v1.Capability{"ALL", "CHOWN"}}}
			},
			want: want(func(s *containerSpec) {
				s.caps = specCaps{dropAll: true, add: []string{"CAP_NET_ADMIN", "CAP_SYS_PTRACE"}, drop: []string{"CAP_CHOWN"}}
			}),
		},
		{
			name: "a privileged container's capabilities are all, whatever it says",
			mod: func(in *specInput) {
				in.container.SecurityContext = &v1.SecurityContext{Privileged: ptrBool(true),
					Capabilities: &v1.Capabilities{Drop: []v1.Capability{"ALL"}}}
			},
			want: want(func(s *containerSpec) { s.privileged = true }),
		},
		{
			name: "readOnlyRootFilesystem",
			mod: func(in *specInput) {
				in.container.SecurityContext = &v1.SecurityContext{ReadOnlyRootFilesystem: ptrBool(true)}
			},
			want: want(func(s *containerSpec) { s.readonlyRootfs = true }),
		},
		{
			name: "allowPrivilegeEscalation false sets no_new_privs",
			mod: func(in *specInput) {
				in.container.SecurityContext = &v1.SecurityContext{AllowPrivilegeEscalation: ptrBool(false)}
			},
			want: want(func(s *containerSpec) { s.noNewPrivs = true }),
		},
		{
			name: "allowPrivilegeEscalation true leaves it unset",
			mod: func(in *specInput) {
				in.container.SecurityContext = &v1.SecurityContext{AllowPrivilegeEscalation: ptrBool(true)}
			},
			want: want(nil),
		},
		{
			name: "limits and requests",
			mod: func(in *specInput) {
				in.container.Resources = v1.ResourceRequirements{
					Limits:   v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi"), v1.ResourceCPU: resource.MustParse("250m")},
					Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")},
				}
			},
			want: want(func(s *containerSpec) {
				s.memoryLimit, s.cpuQuota, s.cpuPeriod, s.cpuShares = 64<<20, 25000, 100000, 102
			}),
		},
		{
			name: "a tiny cpu request gets the kernel's least shares",
			mod: func(in *specInput) {
				in.container.Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse("1m")}
			},
			want: want(func(s *containerSpec) { s.cpuShares = 2 }),
		},
		{
			name: "volume mounts after the pod's files",
			mod: func(in *specInput) {
				in.opts.Mounts = []Mount{{Source: "/vol/data", Destination: "/data"}, {Source: "/vol/cfg", Destination: "/cfg", ReadOnly: true}}
			},
			want: want(func(s *containerSpec) {
				s.mounts = append(append([]specs.Mount{}, podFiles...),
					specs.Mount{Destination: "/data", Type: "bind", Source: "/vol/data", Options: []string{"rbind", "rw"}},
					specs.Mount{Destination: "/cfg", Type: "bind", Source: "/vol/cfg", Options: []string{"rbind", "ro"}})
			}),
		},
		{
			name: "the termination message file last, read-write",
			mod: func(in *specInput) {
				in.container.TerminationMessagePath = "/dev/termination-log"
				in.terminationLog = "/pods/uid-1/logs/c/0.termination-log"
				in.opts.Mounts = []Mount{{Source: "/vol/cfg", Destination: "/cfg", ReadOnly: true}}
			},
			want: want(func(s *containerSpec) {
				s.mounts = append(append([]specs.Mount{}, podFiles...),
					specs.Mount{Destination: "/cfg", Type: "bind", Source: "/vol/cfg", Options: []string{"rbind", "ro"}},
					specs.Mount{Destination: "/dev/termination-log", Type: "bind", Source: "/pods/uid-1/logs/c/0.termination-log", Options: []string{"rbind", "rw"}})
			}),
		},
		{
			name: "an ephemeral container joins its target's processes",
			mod: func(in *specInput) {
				in.opts.Ephemeral, in.opts.TargetID, in.targetPID = true, "target-id", 4242
			},
			want: want(func(s *containerSpec) {
				s.namespaces = append(s.namespaces, specs.LinuxNamespace{Type: specs.PIDNamespace, Path: "/proc/4242/ns/pid"})
				s.labels[labelEphemeral] = "true"
			}),
		},
		{
			name: "the pod's sysctls, by their dotted names",
			mod: func(in *specInput) {
				in.pod.Spec.SecurityContext = &v1.PodSecurityContext{Sysctls: []v1.Sysctl{
					{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "net/ipv4/ip_local_port_range", Value: "1024 65535"}}}
			},
			want: want(func(s *containerSpec) {
				s.sysctls = map[string]string{"kernel.shm_rmid_forced": "1", "net.ipv4.ip_local_port_range": "1024 65535"}
			}),
		},
		{
			name: "an init container's later attempt",
			mod:  func(in *specInput) { in.init, in.attempt = true, 3 },
			want: want(func(s *containerSpec) {
				s.id = containerID(basePod(), "c", 3)
				s.cgroupsPath = "/minik8s/n1/uid-1/" + s.id
				s.labels[labelAttempt] = "3"
				s.labels[labelInit] = "true"
			}),
		},
		{
			name: "hostname and subdomain, as FQDN",
			mod: func(in *specInput) {
				in.pod.Spec.Hostname, in.pod.Spec.Subdomain = "web-0", "web"
				in.pod.Spec.SetHostnameAsFQDN = ptrBool(true)
			},
			want: want(func(s *containerSpec) { s.hostname = "web-0.web.ns.svc.cluster.local" }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := basePod()
			in := specInput{pod: pod, container: &pod.Spec.Containers[0], sandbox: Sandbox{NetNS: "/run/netns/p", IP: "10.0.0.5"},
				podFiles: podFiles, image: image, imageID: "docker.io/library/img@sha256:1",
				nodeName: "n1", clusterDomain: "cluster.local", started: started}
			if tt.mod != nil {
				tt.mod(&in)
			}
			got, err := newContainerSpec(in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(containerSpec{}, specUser{}, specCaps{})); diff != "" {
				t.Errorf("got spec differing from want (-want +got):\n%s", diff)
			}
		})
	}
}

// A pod whose FQDN is too long for a hostname cannot get a spec: the
// kubelet's error, which keeps the container from being made.
func TestNewContainerSpecFQDNTooLong(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: strings.Repeat("n", 63)},
		Spec: v1.PodSpec{Hostname: strings.Repeat("h", 63), Subdomain: strings.Repeat("s", 63), SetHostnameAsFQDN: ptrBool(true),
			Containers: []v1.Container{{Name: "c"}}}}
	_, err := newContainerSpec(specInput{pod: pod, container: &pod.Spec.Containers[0], clusterDomain: "cluster.local"})
	if err == nil || !strings.Contains(err.Error(), "FQDN") || !strings.Contains(err.Error(), "is too long") {
		t.Errorf("got %v, want the FQDN too long error", err)
	}
}

// The options without I/O make the OCI spec newContainerSpec describes
// (the user's need the image's snapshot and are left to the lab tests).
func TestContainerSpecOpts(t *testing.T) {
	limit := int64(64 << 20)
	quota, period, shares := int64(25000), uint64(100000), uint64(102)
	s := containerSpec{
		args: []string{"sh", "-c", "true"}, env: []string{"A=b"}, cwd: "/work", tty: true, hostname: "p",
		namespaces:  []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/run/netns/p"}},
		mounts:      []specs.Mount{{Destination: "/data", Type: "bind", Source: "/vol", Options: []string{"rbind", "ro"}}},
		cgroupsPath: "/minik8s/n1/uid/c", memoryLimit: uint64(limit), cpuQuota: quota, cpuPeriod: period, cpuShares: shares,
		annotations:    map[string]string{"k": "v"},
		caps:           specCaps{dropAll: true, add: []string{"CAP_NET_ADMIN"}, drop: []string{"CAP_CHOWN"}},
		readonlyRootfs: true,
		noNewPrivs:     true,
		sysctls:        map[string]string{"kernel.shm_rmid_forced": "1"},
	}
	got := &specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace}, {Type: specs.PIDNamespace}}}}
	for _, o := range s.specOptsWithoutUser() {
		if err := o(context.Background(), nil, &containers.Container{}, got); err != nil {
			t.Fatal(err)
		}
	}
	want := &specs.Spec{
		Process: &specs.Process{Args: s.args, Env: s.env, Cwd: "/work", Terminal: true, NoNewPrivileges: true,
			Capabilities: &specs.LinuxCapabilities{Bounding: []string{"CAP_NET_ADMIN"}, Effective: []string{"CAP_NET_ADMIN"}, Permitted: []string{"CAP_NET_ADMIN"}}},
		Root:        &specs.Root{Readonly: true},
		Hostname:    "p",
		Annotations: map[string]string{"k": "v"},
		Mounts:      s.mounts,
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/run/netns/p"}, {Type: specs.PIDNamespace}},
			CgroupsPath: "/minik8s/n1/uid/c",
			Sysctl:      map[string]string{"kernel.shm_rmid_forced": "1"},
			Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit},
				CPU: &specs.LinuxCPU{Quota: &quota, Period: &period, Shares: &shares}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("got spec differing from want (-want +got):\n%s", diff)
	}
}

// TestContainerIDIsAnIdentifier: containerd accepts every container ID,
// for names cut at 40 characters where a dash falls too (the conformance
// pod "alpine-nnp-true-<uuid>" failed to create: "--" in its ID).
func TestContainerIDIsAnIdentifier(t *testing.T) {
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "df0e2070-aede"}}
	for _, name := range []string{"c", "alpine-nnp-true-838372d5-ae3e-4fa6-8d50-061f9150044b",
		strings.Repeat("a", 39) + "--b", strings.Repeat("x", 63)} {
		id := containerID(pod, name, 2)
		if err := identifiers.Validate(id); err != nil {
			t.Errorf("name %q: %v", name, err)
		}
		if !strings.HasSuffix(id, "-2") {
			t.Errorf("name %q: id %q does not end in the attempt", name, id)
		}
	}
}

// TestShimGone: the messages containerd gives a task create whose shim
// exited under it (each seen on this machine) are retried; a create
// refused for anything else is not.
func TestShimGone(t *testing.T) {
	for msg, want := range map[string]bool{
		"failed to start shim: start failed: dial unix /run/containerd/s/1: connect: no such file or directory: unknown": true,
		"failed to start shim: dial unix /run/containerd/s/1: connect: connection refused: unknown":                      true,
		"failed to create shim task: ttrpc: closed: unknown":                                                             true,
		"failed to create shim task: OCI runtime create failed: unable to retrieve OCI runtime error (open /tmp/klt-cd-1/state/io.containerd.runtime.v2.task/klt/second-13/log.json: no such file or directory): shutdown: unknown": true,
		"failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: \"nnp\": executable file not found in $PATH: unknown":                                                  false,
	} {
		if got := shimGone(errors.New(msg)); got != want {
			t.Errorf("shimGone(%q) = %v, want %v", msg, got, want)
		}
	}
}
