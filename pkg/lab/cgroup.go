package lab

import (
	"os"
	"path/filepath"
	"sync"

	"minik8s/pkg/cgroup"
)

// The lab's cgroups, one sub-tree for the lab and one per node, in the
// host's layout (cgroup v1 or v2, see package cgroup):
//
//   - minik8s-lab/<component>, minik8s-lab/agents/<agent> and
//     minik8s-lab/supervisor: the components and what they start outside
//     containers (containerd's shims and runc, CNI plugins);
//   - minik8s/<node>/<pod uid>/<container>: the containers, where the
//     agent's cgroupsPath puts them (kubelet-lite's cgroupParent).
//
// On v2 the lab enables no controllers in its sub-tree, so its processes
// may sit in any cgroup of it; runc enables the controllers a container
// needs down the node's sub-tree, whose inner cgroups hold no processes.
const (
	labCgroup   = "minik8s-lab"
	nodesCgroup = "minik8s"
)

// nodeCgroup is the sub-tree of a node's containers.
func nodeCgroup(n Node) string { return nodesCgroup + "/" + n.Name() }

// hostCgroups is the host's cgroup file system, detected once.
var hostCgroups = sync.OnceValues(func() (*cgroup.FS, error) { return cgroup.Detect(cgroup.Root) })

// joinCgroup puts pid into minik8s-lab/<rel>, creating it.
func joinCgroup(pid int, rel string) error {
	c, err := hostCgroups()
	if err != nil {
		return err
	}
	return c.Join(pid, filepath.Join(labCgroup, rel))
}

// cgroupPids returns every pid in the cgroup rel and below, e.g.
// "minik8s-lab" or "minik8s/node2"; none when the host has no cgroups
// the lab can use.
func cgroupPids(rel string) []int {
	c, err := hostCgroups()
	if err != nil {
		return nil
	}
	return c.Pids(rel)
}

// killCgroup kills every process in rel and below and removes the
// cgroups; it returns how many processes it killed. On a host without
// cgroups the lab can use there is nothing to kill (`lab up` refuses to
// start there), and `lab down` must still work.
func killCgroup(rel string) (int, error) {
	c, err := hostCgroups()
	if err != nil {
		return 0, nil
	}
	return c.Kill(rel)
}

// removeCgroupDirs removes rel and the (empty) cgroups below it.
func removeCgroupDirs(rel string) error {
	c, err := hostCgroups()
	if err != nil {
		return nil
	}
	return c.Remove(rel)
}

// removeEmptyCgroup removes rel alone where it holds nothing: the
// top of the node sub-trees, which agents that are not the lab's may
// share.
func removeEmptyCgroup(rel string) {
	if c, err := hostCgroups(); err == nil {
		for _, h := range c.Hierarchies() {
			os.Remove(filepath.Join(h, rel))
		}
	}
}
