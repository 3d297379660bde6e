package manager

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"minik8s/pkg/apiserver/apiservertest"
)

func poll(t *testing.T, ctx context.Context, what string, cond func(ctx context.Context) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return cond(ctx), nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestControllersAgainstAPIServer(t *testing.T) {
	srv := apiservertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(srv.Config)
	createNode(t, ctx, client, "node1")
	cfg := NewConfig()
	cfg.Controllers = []string{"*", "-nodelifecycle", "-tainteviction"}
	cfg.LBPool = []string{"10.200.0.200-10.200.0.201"}
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- Run(mctx, srv.Config, cfg) }()
	defer func() { stop(); <-done }()
	go newFakeAgent(client, "default", "node1").run(ctx, t)
	go newFakeAgent(client, "team", "node1").run(ctx, t)

	deployAndWait := func(name string) {
		t.Helper()
		if _, err := client.AppsV1().Deployments("default").Create(ctx, newDeployment(name, 2, "img"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitDeployment(t, ctx, client, name, 30*time.Second, complete)
	}
	countOf := func(ctx context.Context, app string) (rs, pods int) {
		r, _ := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		p, _ := client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		return len(r.Items), len(p.Items)
	}
	del := func(name string, policy metav1.DeletionPropagation) {
		t.Helper()
		if err := client.AppsV1().Deployments("default").Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("background cascade", func(t *testing.T) {
		deployAndWait("bg")
		del("bg", metav1.DeletePropagationBackground)
		poll(t, ctx, "replicasets and pods of bg to go", func(ctx context.Context) bool {
			rs, pods := countOf(ctx, "bg")
			return rs == 0 && pods == 0
		})
	})
	t.Run("foreground cascade", func(t *testing.T) {
		deployAndWait("fg")
		del("fg", metav1.DeletePropagationForeground)
		poll(t, ctx, "fg and everything it owns to go", func(ctx context.Context) bool {
			_, err := client.AppsV1().Deployments("default").Get(ctx, "fg", metav1.GetOptions{})
			rs, pods := countOf(ctx, "fg")
			return apierrors.IsNotFound(err) && rs == 0 && pods == 0
		})
	})
	t.Run("orphan", func(t *testing.T) {
		deployAndWait("orph")
		del("orph", metav1.DeletePropagationOrphan)
		poll(t, ctx, "orph to go", func(ctx context.Context) bool {
			_, err := client.AppsV1().Deployments("default").Get(ctx, "orph", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		time.Sleep(time.Second)
		rss, _ := client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=orph"})
		if len(rss.Items) != 1 || len(rss.Items[0].OwnerReferences) != 0 {
			t.Fatalf("orphaned replicasets %d, refs %v; want 1 without owner", len(rss.Items), rss.Items)
		}
		if _, pods := countOf(ctx, "orph"); pods != 2 {
			t.Errorf("orphaned pods %d, want 2", pods)
		}
	})
	t.Run("endpoints", func(t *testing.T) {
		deployAndWait("web")
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "an EndpointSlice and Endpoints with 2 ready addresses", func(ctx context.Context) bool {
			sl, err := client.DiscoveryV1().EndpointSlices("default").List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=web"})
			if err != nil || len(sl.Items) != 1 || len(sl.Items[0].Endpoints) != 2 {
				return false
			}
			ep, err := client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 2 && ep.Subsets[0].Ports[0].Port == 8080
		})
		k, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err == nil && len(k.Subsets) > 0 && k.Subsets[0].Ports[0].Port == 8080 {
			t.Error("the kubernetes Service's endpoints were rewritten")
		}
	})
	t.Run("loadbalancer", func(t *testing.T) {
		for _, n := range []string{"lb1", "lb2", "lb3"} {
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: n, Namespace: "default"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": n}, Ports: []corev1.ServicePort{{Port: 80}}}}
			if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		ip := func(ctx context.Context, n string) string {
			s, err := client.CoreV1().Services("default").Get(ctx, n, metav1.GetOptions{})
			if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
				return ""
			}
			return s.Status.LoadBalancer.Ingress[0].IP
		}
		poll(t, ctx, "lb1 and lb2 to get addresses", func(ctx context.Context) bool { return ip(ctx, "lb1") != "" && ip(ctx, "lb2") != "" })
		poll(t, ctx, "an AllocationFailed event for lb3", func(ctx context.Context) bool {
			evs, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return false
			}
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == "lb3" && e.Reason == "AllocationFailed" {
					return true
				}
			}
			return false
		})
		if err := client.CoreV1().Services("default").Delete(ctx, "lb1", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "lb3 to get lb1's address", func(ctx context.Context) bool { return ip(ctx, "lb3") != "" })
	})
	t.Run("namespace", func(t *testing.T) {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		d := newDeployment("app", 2, "img")
		d.Namespace = "team"
		if _, err := client.AppsV1().Deployments("team").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "app"}, Ports: []corev1.ServicePort{{Port: 80}}}}
		if _, err := client.CoreV1().Services("team").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "pods in team", func(ctx context.Context) bool {
			p, err := client.CoreV1().Pods("team").List(ctx, metav1.ListOptions{})
			return err == nil && len(p.Items) == 2
		})
		if err := client.CoreV1().Namespaces().Delete(ctx, "team", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, ctx, "namespace team to be gone", func(ctx context.Context) bool {
			_, err := client.CoreV1().Namespaces().Get(ctx, "team", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
	})
}
