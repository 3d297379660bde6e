package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// leaseDuration is the Lease's spec.leaseDurationSeconds; renewEvery keeps
// every lease well inside it and inside node lifecycle's 40 s grace period.
const (
	leaseDuration = 40
	renewEvery    = 10 * time.Second
	nodeWriters   = 16
)

// fakeNodes are the Nodes this program stands in for: created Ready with a
// Lease, whose Leases it renews until the context ends.
type fakeNodes struct {
	client kubernetes.Interface
	mu     sync.Mutex
	names  []string
}

// grow creates nodes node<len+1>..node<n> (Ready, with a Lease), nodeWriters
// at a time.
func (f *fakeNodes) grow(ctx context.Context, n int) error {
	f.mu.Lock()
	from := len(f.names) + 1
	f.mu.Unlock()
	if from > n {
		return nil
	}
	todo := make(chan string)
	errs := make(chan error, nodeWriters)
	var wg sync.WaitGroup
	for w := 0; w < nodeWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range todo {
				if err := f.create(ctx, name); err != nil {
					errs <- err
					for range todo {
					}
					return
				}
			}
		}()
	}
	for i := from; i <= n; i++ {
		todo <- fmt.Sprintf("node%d", i)
	}
	close(todo)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	f.mu.Lock()
	for i := from; i <= n; i++ {
		f.names = append(f.names, fmt.Sprintf("node%d", i))
	}
	f.mu.Unlock()
	return nil
}

func (f *fakeNodes) create(ctx context.Context, name string) error {
	if _, err := f.client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating node: %w", err)
	}
	// A patch, not an update: node IPAM may have written the node already.
	now := metav1.Now()
	status, _ := json.Marshal(map[string]any{"status": corev1.NodeStatus{Conditions: []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}}})
	if _, err := f.client.CoreV1().Nodes().Patch(ctx, name, types.StrategicMergePatchType, status, metav1.PatchOptions{}, "status"); err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	holder, secs, renew := name, int32(leaseDuration), metav1.NewMicroTime(time.Now())
	_, err := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &renew}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating lease: %w", err)
	}
	return nil
}

func (f *fakeNodes) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.names...)
}

// renewLeases heartbeats for the fake nodes, so node lifecycle leaves them
// be: one merge patch of renewTime per node every renewEvery, nodeWriters
// at a time.
func (f *fakeNodes) renewLeases(ctx context.Context) {
	leases := f.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	for ctx.Err() == nil {
		names := f.list()
		todo := make(chan string)
		var wg sync.WaitGroup
		for w := 0; w < nodeWriters; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for name := range todo {
					now := metav1.NewMicroTime(time.Now())
					patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"renewTime": now}})
					_, _ = leases.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
				}
			}()
		}
		for _, name := range names {
			todo <- name
		}
		close(todo)
		wg.Wait()
		select {
		case <-ctx.Done():
		case <-time.After(renewEvery):
		}
	}
}
