package apiserver

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"minik8s/pkg/storage"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/service/allocator"
	"k8s.io/kubernetes/pkg/registry/core/service/portallocator"
	portcontroller "k8s.io/kubernetes/pkg/registry/core/service/portallocator/controller"
)

// testStore is a store on an embedded etcd of its own.
func testStore(t *testing.T) *storage.Store {
	t.Helper()
	cfg := storage.NewEtcdConfig(t.TempDir())
	cfg.UnsafeNoFsync = true
	e, err := storage.StartEtcd(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	c, err := storage.NewClient([]string{e.Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return storage.New(c)
}

// testPorts is a node port allocator over store, as one apiserver makes
// it; several on one store are several apiservers on one etcd.
func testPorts(t *testing.T, store *storage.Store, pr utilnet.PortRange) (*portallocator.PortAllocator, *rangeStore) {
	t.Helper()
	var rs *rangeStore
	pa, err := portallocator.New(pr, func(max int, rangeSpec string, offset int) (allocator.Interface, error) {
		rs = &rangeStore{alloc: allocator.NewAllocationMapWithOffset(max, rangeSpec, offset), store: store, key: nodePortsKey,
			resource: schema.GroupResource{Resource: "servicenodeportallocations"}}
		return rs, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pa, rs
}

func storedPorts(t *testing.T, store *storage.Store, pr utilnet.PortRange) []int {
	t.Helper()
	var ra corev1.RangeAllocation
	if err := store.Get(context.Background(), nodePortsKey, &ra); err != nil {
		t.Fatal(err)
	}
	pa, err := portallocator.NewFromSnapshot(&api.RangeAllocation{Range: ra.Range, Data: ra.Data})
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	pa.ForEach(func(p int) { out = append(out, p) })
	return out
}

func TestRangeStoreNeedsTheRepairsFirstWrite(t *testing.T) {
	store := testStore(t)
	pr := utilnet.PortRange{Base: 30000, Size: 100}
	pa, rs := testPorts(t, store, pr)
	if _, err := pa.AllocateNext(); err == nil || err.Error() != "cannot allocate resources of type servicenodeportallocations at this time" {
		t.Fatalf("before the range is stored: got %v, want the not-at-this-time error", err)
	}
	snap, err := rs.Get()
	if err != nil || snap.ResourceVersion != "" {
		t.Fatalf("Get before: got %+v, %v; want an empty one", snap, err)
	}
	if err := rs.CreateOrUpdate(&api.RangeAllocation{Range: pr.String()}); err != nil {
		t.Fatal(err)
	}
	// A second initializer, or one working from an old snapshot, loses.
	if err := rs.CreateOrUpdate(&api.RangeAllocation{Range: pr.String()}); !apierrors.IsConflict(err) {
		t.Fatalf("second create: got %v, want Conflict", err)
	}
	snap, _ = rs.Get()
	if err := pa.Allocate(30005); err != nil {
		t.Fatal(err)
	}
	if err := rs.CreateOrUpdate(snap); !apierrors.IsConflict(err) {
		t.Fatalf("update from a stale snapshot: got %v, want Conflict", err)
	}
	if got := storedPorts(t, store, pr); len(got) != 1 || got[0] != 30005 {
		t.Fatalf("stored: got %v, want [30005]", got)
	}
}

// TestRangeStoreConcurrentAllocators: allocators of several apiservers on
// one etcd, each unaware of the others' allocations until it reads them,
// never give one port twice.
func TestRangeStoreConcurrentAllocators(t *testing.T) {
	store := testStore(t)
	pr := utilnet.PortRange{Base: 30000, Size: 2768}
	const servers, each = 2, 100
	var pas []*portallocator.PortAllocator
	for i := 0; i < servers; i++ {
		pa, rs := testPorts(t, store, pr)
		if i == 0 {
			if err := rs.CreateOrUpdate(&api.RangeAllocation{Range: pr.String()}); err != nil {
				t.Fatal(err)
			}
		}
		pas = append(pas, pa)
	}

	t.Run("next", func(t *testing.T) {
		got := make(chan int, servers*each)
		var wg sync.WaitGroup
		var errs sync.Map
		for _, pa := range pas {
			for j := 0; j < each; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					p, err := pa.AllocateNext()
					if err != nil {
						errs.Store(j, err)
						return
					}
					got <- p
				}()
			}
		}
		wg.Wait()
		close(got)
		errs.Range(func(_, v any) bool { t.Errorf("AllocateNext: %v", v); return true })
		seen := map[int]bool{}
		for p := range got {
			if seen[p] {
				t.Errorf("port %d given twice", p)
			}
			seen[p] = true
		}
		if len(seen) != servers*each {
			t.Errorf("got %d distinct ports, want %d", len(seen), servers*each)
		}
		if stored := storedPorts(t, store, pr); len(stored) != len(seen) {
			t.Errorf("stored bitmap holds %d ports, want %d", len(stored), len(seen))
		}
	})

	t.Run("requested", func(t *testing.T) {
		// Every server asks for the same 50 ports at once: each is given
		// once, the others told it is taken.
		// In the band dynamic allocation leaves to requests.
		const base = 30010
		wins := make([]int, 50)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, pa := range pas {
			for j := range wins {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := pa.Allocate(base + j)
					switch {
					case err == nil:
						mu.Lock()
						wins[j]++
						mu.Unlock()
					case !errors.Is(err, portallocator.ErrAllocated):
						t.Errorf("Allocate(%d): got %v, want nil or %v", base+j, err, portallocator.ErrAllocated)
					}
				}()
			}
		}
		wg.Wait()
		for j, n := range wins {
			if n != 1 {
				t.Errorf("port %d: given %d times, want 1", base+j, n)
			}
		}
	})

	t.Run("release", func(t *testing.T) {
		if err := pas[0].Allocate(30070); err != nil {
			t.Fatal(err)
		}
		if err := pas[1].Allocate(30070); !errors.Is(err, portallocator.ErrAllocated) {
			t.Fatalf("taken elsewhere: got %v, want %v", err, portallocator.ErrAllocated)
		}
		if err := pas[1].Release(30070); err != nil {
			t.Fatal(err)
		}
		if err := pas[0].Allocate(30070); err != nil {
			t.Fatalf("after the other server released it: got %v", err)
		}
	})
}

// TestNodePortRepairReleasesLeaks: upstream's repair loop, over the
// bitmap in etcd, records the node ports of Services the bitmap lacks and
// releases, on its third pass, those no Service holds.
func TestNodePortRepairReleasesLeaks(t *testing.T) {
	store := testStore(t)
	pr := utilnet.PortRange{Base: 30000, Size: 100}
	pa, rs := testPorts(t, store, pr)
	if err := rs.CreateOrUpdate(&api.RangeAllocation{Range: pr.String()}); err != nil {
		t.Fatal(err)
	}
	if err := pa.Allocate(30007); err != nil { // leaked: no Service holds it
		t.Fatal(err)
	}
	client := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "default"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80, NodePort: 30042}}},
	})
	repair := portcontroller.NewRepair(10*time.Millisecond, client.CoreV1(), client.EventsV1(), pr, rs)
	stop := make(chan struct{})
	defer close(stop)
	go repair.RunUntil(func() {}, stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []int
	err := wait.PollUntilContextCancel(ctx, 10*time.Millisecond, true, func(context.Context) (bool, error) {
		got = storedPorts(t, store, pr)
		return slices.Equal(got, []int{30042}), nil
	})
	if err != nil {
		t.Fatalf("stored node ports: got %v, want [30042]", got)
	}
}
