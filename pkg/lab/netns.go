package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"minik8s/pkg/netns"
)

const netnsRunDir = "/run/netns"

// createNamedNetns makes a network namespace bound at /run/netns/name, the
// way `ip netns add` does, so `ip netns exec`, `nsenter --net=` and
// netns.Do find it.
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
	return netns.New(filepath.Join(netnsRunDir, name))
}

// deleteNamedNetns unmounts and removes /run/netns/name; a missing one is
// not an error.
func deleteNamedNetns(name string) error {
	return netns.Remove(filepath.Join(netnsRunDir, name))
}

// nsSysctl sets a sysctl inside the namespace at path: /proc/sys/net
// shows the namespace of the thread that opens it.
func nsSysctl(path, key, value string) error {
	file := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	if err := netns.Do(path, func() error { return os.WriteFile(file, []byte(value+"\n"), 0o644) }); err != nil {
		return fmt.Errorf("setting %s=%s in %s: %w", key, value, path, err)
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
