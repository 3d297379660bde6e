package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const netnsRunDir = "/run/netns"

// createNamedNetns makes a network namespace bound at /run/netns/name, the
// way `ip netns add` does, so `ip netns exec` and `nsenter --net=` find it.
func createNamedNetns(name string) error {
	if err := os.MkdirAll(netnsRunDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", netnsRunDir, err)
	}
	// Like iproute2: make /run/netns a shared mount point so the bind mounts
	// below propagate into other mount namespaces (ip netns exec, runc).
	if err := unix.Mount("", netnsRunDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		if !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("making %s shared: %w", netnsRunDir, err)
		}
		if err := unix.Mount(netnsRunDir, netnsRunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s: %w", netnsRunDir, err)
		}
		if err := unix.Mount("", netnsRunDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("making %s shared: %w", netnsRunDir, err)
		}
	}
	path := filepath.Join(netnsRunDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	f.Close()
	// unshare(1) in a child process: doing it on a thread of ours could
	// leave the main thread (and /proc/self/net) in the new namespace.
	if out, err := exec.Command("unshare", "--net="+path, "true").CombinedOutput(); err != nil {
		os.Remove(path)
		return fmt.Errorf("unshare --net=%s: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// deleteNamedNetns unmounts and removes /run/netns/name; a missing one is
// not an error.
func deleteNamedNetns(name string) error {
	path := filepath.Join(netnsRunDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}

// nsSysctl sets a sysctl inside the namespace at path, in a child
// process (see createNamedNetns).
func nsSysctl(path, key, value string) error {
	file := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	out, err := exec.Command("nsenter", "--net="+path, "--", "sh", "-c", `echo "$1" > "$2"`, "sh", value, file).CombinedOutput()
	if err != nil {
		return fmt.Errorf("setting %s=%s in %s: %w: %s", key, value, path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// labNetnsNames lists the lab's node namespaces that exist now.
func labNetnsNames() []string {
	m, _ := filepath.Glob(filepath.Join(netnsRunDir, netnsPrefix+"*"))
	names := make([]string, 0, len(m))
	for _, p := range m {
		names = append(names, filepath.Base(p))
	}
	return names
}
