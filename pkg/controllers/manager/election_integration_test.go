package manager

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/election"
)

// TestLeaderElection: a controller-manager whose Lease another candidate
// holds does nothing; once the holder lets the lease expire it takes over
// and reconciles; when someone takes the lease from it, it stops with
// ErrLostLease; stopped cleanly, it hands the lease back.
func TestLeaderElection(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	leases := client.CoordinationV1().Leases("kube-system")

	// Someone else leads, and keeps renewing until told to stop.
	other := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-controller-manager", Namespace: "kube-system"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("someone-else"),
			LeaseDurationSeconds: ptr.To[int32](2),
			AcquireTime:          &metav1.MicroTime{Time: time.Now()},
			RenewTime:            &metav1.MicroTime{Time: time.Now()},
		},
	}
	if _, err := leases.Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	renewCtx, stopRenewing := context.WithCancel(ctx)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		for renewCtx.Err() == nil {
			if l, err := leases.Get(renewCtx, other.Name, metav1.GetOptions{}); err == nil && ptr.Deref(l.Spec.HolderIdentity, "") == "someone-else" {
				l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
				_, _ = leases.Update(renewCtx, l, metav1.UpdateOptions{})
			}
			select {
			case <-renewCtx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()

	cfg := NewConfig()
	cfg.Controllers = []string{ReplicaSet}
	cfg.LeaderElection.LeaseDuration = 2 * time.Second
	cfg.LeaderElection.RenewDeadline = 1500 * time.Millisecond
	cfg.LeaderElection.RetryPeriod = 200 * time.Millisecond
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- Run(mctx, srv.Config, cfg) }()

	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}},
			},
		},
	}
	if _, err := client.AppsV1().ReplicaSets("default").Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Three lease durations as a standby: no pods. (The elector retries
	// every 200 ms, so a standby that ignored the lease would have acted.)
	time.Sleep(3 * cfg.LeaderElection.LeaseDuration)
	if n := podCount(t, ctx, client); n != 0 {
		t.Fatalf("standby controller-manager created %d pods, want 0", n)
	}

	stopRenewing()
	<-renewed
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return podCount(t, ctx, client) == 2, nil
	}); err != nil {
		t.Fatalf("after the other holder stopped renewing: %d pods, want 2", podCount(t, ctx, client))
	}
	l, err := leases.Get(ctx, other.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holder := ptr.Deref(l.Spec.HolderIdentity, "")
	if holder == "" || holder == "someone-else" {
		t.Fatalf("lease holder %q, want this controller-manager", holder)
	}

	// Someone takes the lease over for an hour: the leader cannot renew
	// and stops. (Read and write again if the leader renewed meanwhile.)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		l, err := leases.Get(ctx, other.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		l.Spec.HolderIdentity = ptr.To("usurper")
		l.Spec.LeaseDurationSeconds = ptr.To[int32](3600)
		l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
		_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, election.ErrLostLease) {
			t.Fatalf("controller-manager whose lease was taken returned %v, want ErrLostLease", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("controller-manager kept running after losing its lease")
	}

	// A clean stop hands the lease back: a new manager leads at once even
	// though the lease it took over says an hour.
	if err := leases.Delete(ctx, other.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mctx2, stop2 := context.WithCancel(ctx)
	done2 := make(chan error, 1)
	go func() { done2 <- Run(mctx2, srv.Config, cfg) }()
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		l, err := leases.Get(ctx, other.Name, metav1.GetOptions{})
		return err == nil && ptr.Deref(l.Spec.HolderIdentity, "") != "", nil
	}); err != nil {
		t.Fatal("second controller-manager never took the lease")
	}
	stop2()
	if err := <-done2; err != nil {
		t.Fatalf("clean stop: %v", err)
	}
	l, err = leases.Get(ctx, other.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h := ptr.Deref(l.Spec.HolderIdentity, ""); h != "" {
		t.Fatalf("lease after a clean stop held by %q, want it handed back", h)
	}
}

func podCount(t *testing.T, ctx context.Context, client kubernetes.Interface) int {
	t.Helper()
	pods, err := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	return len(pods.Items)
}
