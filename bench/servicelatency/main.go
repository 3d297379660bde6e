// Command servicelatency measures Service programming latency on a running
// lab: from the creation of a ClusterIP Service to the first successful
// HTTP request to it from inside a node, over N Services in a row, all
// selecting the same ready echo pods. As root:
//
//	bin/ctl lab up --nodes 3
//	go run ./bench/servicelatency [-services 20] [-node node1]
//
// It makes its own namespace and deletes it at the end. Requests go only to
// ClusterIPs, from inside the node's network namespace.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"minik8s/bench/internal/stats"
	"minik8s/pkg/netns"
	"minik8s/pkg/restconfig"
)

func main() {
	services := flag.Int("services", 20, "how many Services to create, one after another")
	node := flag.String("node", "node1", "lab node whose network namespace sends the requests")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *services, *node); err != nil {
		fmt.Fprintln(os.Stderr, "servicelatency:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n int, node string) error {
	opts := restconfig.NewOptions()
	cfg, err := opts.Load()
	if err != nil {
		return err
	}
	cfg.ContentType = "application/json"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns := fmt.Sprintf("svclat-%d", time.Now().Unix())
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating namespace (is a lab up? bin/ctl lab up, as root): %w", err)
	}
	defer client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})

	labels := map[string]string{"app": "svclat"}
	replicas := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "echo", Image: "minik8s/echo:latest",
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	fmt.Printf("waiting for %d ready echo pods in %s\n", replicas, ns)
	for {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "echo", metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas == replicas {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}

	var lat []time.Duration
	for i := 0; i < n; i++ {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("s%d", i)},
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		start := time.Now()
		created, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		d, err := firstSuccess(ctx, node, net.JoinHostPort(created.Spec.ClusterIP, "80"), start, 30*time.Second)
		if err != nil {
			return fmt.Errorf("service %s (%s): %w", created.Name, created.Spec.ClusterIP, err)
		}
		lat = append(lat, d)
		fmt.Printf("  %-4s %-15s first answer after %v\n", created.Name, created.Spec.ClusterIP, d.Round(time.Millisecond))
	}
	fmt.Printf("service programming latency over %d Services (create → first HTTP answer from %s): %s\n",
		n, node, stats.Summary(lat, roundMs))
	return nil
}

// firstSuccess polls addr from inside the node's network namespace until an
// HTTP request succeeds, and returns the time since start.
func firstSuccess(ctx context.Context, node, addr string, start time.Time, limit time.Duration) (d time.Duration, err error) {
	err = netns.Do("/run/netns/mk8s-"+node, func() error {
		deadline := start.Add(limit)
		var last error
		for time.Now().Before(deadline) && ctx.Err() == nil {
			if last = httpGet(addr); last == nil {
				d = time.Since(start)
				return nil
			}
			time.Sleep(2 * time.Millisecond)
		}
		return fmt.Errorf("no answer within %v: %v", limit, last)
	})
	return d, err
}

// httpGet tries one request. Before the Service is programmed a SYN to its
// ClusterIP is dropped silently (the lab's root namespace does not forward),
// so the connect timeout is the measurement's resolution: keep it short; a
// connect inside one machine takes well under a millisecond.
func httpGet(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Millisecond)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", addr); err != nil {
		return err
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.Contains(status, " 200 ") {
		return fmt.Errorf("answer %q", strings.TrimSpace(status))
	}
	return nil
}

func roundMs(d time.Duration) string { return d.Round(time.Millisecond).String() }
