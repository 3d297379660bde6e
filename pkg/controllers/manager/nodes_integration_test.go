package manager

import (
	"context"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
)

func TestDeadNodeIsTaintedAndEvicts(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	createNode(t, ctx, client, "n1")
	// No pod CIDR on n2: node IPAM fills it in.
	n2, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	n2.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: now, LastTransitionTime: now}}
	if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	renew := metav1.NewMicroTime(time.Now())
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "n2", Namespace: corev1.NamespaceNodeLease}, Spec: coordv1.LeaseSpec{RenewTime: &renew}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "victim", Namespace: "default"},
		Spec: corev1.PodSpec{NodeName: "n2", Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
	if _, err := client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	cfg := NewConfig()
	cfg.Controllers = []string{NodeLifecycle, TaintEviction, NodeIPAM}
	cfg.NodeMonitorGracePeriod = 2 * time.Second
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(mctx, srv.Config, cfg) }()
	defer func() { stop(); <-done }()

	poll(t, ctx, "n2 to get a pod CIDR distinct from n1's", func(ctx context.Context) bool {
		n, err := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
		return err == nil && n.Spec.PodCIDR != "" && n.Spec.PodCIDR != "10.244.1.0/24"
	})
	poll(t, ctx, "n2 to be Unknown and tainted unreachable", func(ctx context.Context) bool {
		n, err := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
		if err != nil {
			return false
		}
		unknown, noExec := false, false
		for _, c := range n.Status.Conditions {
			unknown = unknown || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionUnknown)
		}
		for _, tn := range n.Spec.Taints {
			noExec = noExec || (tn.Key == corev1.TaintNodeUnreachable && tn.Effect == corev1.TaintEffectNoExecute)
		}
		return unknown && noExec
	})
	n1, err := client.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n1.Spec.PodCIDR != "10.244.1.0/24" {
		t.Errorf("n1's own pod CIDR changed to %q", n1.Spec.PodCIDR)
	}
	// The apiserver gave the pod the default 300s toleration: it stays.
	time.Sleep(time.Second)
	if _, err := client.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{}); err != nil {
		t.Fatalf("pod evicted before its tolerationSeconds: %v", err)
	}
	// A NoExecute taint it does not tolerate evicts it at once (forced: the
	// node is unreachable).
	n, err := client.CoreV1().Nodes().Get(ctx, "n2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute})
	if _, err := client.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, ctx, "the pod to be evicted", func(ctx context.Context) bool {
		_, err := client.CoreV1().Pods("default").Get(ctx, "victim", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
}
