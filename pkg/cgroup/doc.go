// Package cgroup tracks, kills and removes groups of processes through the
// host's cgroup file system, in either of its two layouts: cgroup v1 (one
// hierarchy per controller under /sys/fs/cgroup, as on Debian 11 and
// older) and cgroup v2 (the unified hierarchy mounted at /sys/fs/cgroup,
// as on Debian 12, Ubuntu 22.04+ and Fedora). It detects the layout as
// runc does, so the cgroups it names are the ones runc puts containers in.
package cgroup
