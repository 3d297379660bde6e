package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

// TestNewTaskWhileGroupShimExits: on a real containerd, a task created in a
// shim group while the group's last task is deleted (so its shim exits)
// is created all the same (newTask starts a new shim), where containerd
// alone fails now and then with "failed to start shim: … connect: no such
// file or directory" (a pod of the lab failed so, StartError, when its
// first container ended as its second started).
func TestNewTaskWhileGroupShimExits(t *testing.T) {
	skipUnlessReal(t)
	dir, err := os.MkdirTemp("", "klt-shim-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("pkill", "-KILL", "-f", "containerd-shim-runc-v2 .*-address "+dir+"/").Run()
		unmountUnder(dir)
		_ = os.RemoveAll(dir)
	})
	cd, err := containerd.New(startContainerd(t, dir), containerd.WithDefaultNamespace("klt"))
	if err != nil {
		t.Fatal(err)
	}
	defer cd.Close()
	ctx := namespaces.WithNamespace(context.Background(), "klt")
	if _, err := cd.Import(ctx, bytes.NewReader(busyboxImage(t))); err != nil {
		t.Fatal(err)
	}
	image, err := cd.GetImage(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	if err := image.Unpack(ctx, snapshotter); err != nil {
		t.Fatal(err)
	}
	group := map[string]string{shimGroupAnnotation: "klt-shim-test"}
	newContainer := func(id string) containerd.Container {
		c, err := cd.NewContainer(ctx, id, containerd.WithImage(image), containerd.WithSnapshotter(snapshotter),
			containerd.WithNewSnapshot(id, image), containerd.WithRuntime("io.containerd.runc.v2", nil),
			containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("true"), oci.WithAnnotations(group)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Delete(ctx, containerd.WithSnapshotCleanup) })
		return c
	}
	const rounds = 20
	for i := range rounds {
		// The group's only task, ended.
		first := newContainer(fmt.Sprintf("first-%d", i))
		task, err := first.NewTask(ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("round %d: first task: %v", i, err)
		}
		exited, err := task.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-exited
		second := newContainer(fmt.Sprintf("second-%d", i))
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = task.Delete(ctx) // the shim exits with its last task
		}()
		next, err := newTask(ctx, second, cio.NullIO)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: the second task, created as the group's shim exited: %v", i, err)
		}
		if _, err := next.Delete(ctx, containerd.WithProcessKill); err != nil {
			t.Fatal(err)
		}
	}
}
