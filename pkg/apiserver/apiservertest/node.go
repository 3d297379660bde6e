package apiservertest

import (
	"context"
	"net"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ReadyNode registers a Ready Node whose agent the apiserver reaches at
// agentAddr (host:port, e.g. an httptest server standing for a node
// agent's API), with the labels given; status, if set, adds to its status
// (capacity, allocatable) before it is written.
func ReadyNode(t testing.TB, cs kubernetes.Interface, name, agentAddr string, labels map[string]string, status func(*corev1.NodeStatus)) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	host, port, err := net.SplitHostPort(agentAddr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status = corev1.NodeStatus{
		Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: host}},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: int32(p)}},
		Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
	}
	if status != nil {
		status(&node.Status)
	}
	node, err = cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return node
}
