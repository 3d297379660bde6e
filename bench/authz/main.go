// Command authz benchmarks the apiserver's authorization decisions (the
// system:masters short cut, then upstream's RBAC authorizer on the
// server's informers) with 1,000 RoleBindings besides the bootstrap
// policy, in two layouts: all in one namespace (each decision in it
// walks them all) and ten in each of 100 namespaces. Each decision is
// timed alone, in-process, against the chain the running server uses;
// the figures are p50/p99/max per kind of decision, and the mean over
// the run. On a loaded machine the p99 of the slower decisions is the
// scheduler's time slice, not the authorizer: compare with the load
// (uptime) and the mean.
//
//	go run ./bench/authz [-bindings 1000] [-n 20000]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"minik8s/bench/internal/benchserver"
	"minik8s/bench/internal/stats"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func main() {
	bindings := flag.Int("bindings", 1000, "RoleBindings to create")
	n := flag.Int("n", 20000, "decisions timed per kind")
	flag.Parse()
	if err := run(*bindings, *n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000) }

func run(bindings, n int) error {
	// Plain HTTP: the clients only set the bindings up; the decisions are
	// timed on the server's authorizer itself.
	ctx := context.Background()
	s, err := benchserver.Start(ctx, "minik8s-bench-authz-", benchserver.Options{NoFsync: true})
	if err != nil {
		return err
	}
	defer s.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: s.URL, QPS: -1})
	if err != nil {
		return err
	}
	authz := s.Authorizer()

	for _, layout := range []struct {
		name       string
		namespaces int
	}{
		{"one namespace", 1},
		{"100 namespaces", 100},
	} {
		prefix := fmt.Sprintf("l%d-", layout.namespaces)
		if err := populate(ctx, cs, prefix, layout.namespaces, bindings); err != nil {
			return err
		}
		perNS := bindings / layout.namespaces
		// The user of the last binding made, in the last namespace
		// (where the authorizer finds it among the namespace's
		// bindings depends on the store's order).
		lastNS := fmt.Sprintf("%sns-%03d", prefix, layout.namespaces-1)
		lastUser := &user.DefaultInfo{Name: fmt.Sprintf("%suser-%04d", prefix, bindings-1), Groups: []string{user.AllAuthenticated}}
		stranger := &user.DefaultInfo{Name: "stranger", Groups: []string{user.AllAuthenticated}}
		admin := &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}}
		listPods := func(u user.Info, ns string) authorizer.AttributesRecord {
			return authorizer.AttributesRecord{User: u, Verb: "list", Namespace: ns, Resource: "pods", APIVersion: "v1", ResourceRequest: true}
		}
		// Wait until the informers hold every binding.
		for deadline := time.Now().Add(60 * time.Second); ; {
			if d, _, _ := authz.Authorize(ctx, listPods(lastUser, lastNS)); d == authorizer.DecisionAllow {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the last RoleBinding never took effect")
			}
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Printf("%d RoleBindings in %s (%d each), with the bootstrap policy:\n", bindings, layout.name, perNS)
		for _, c := range []struct {
			name  string
			attrs authorizer.AttributesRecord
			want  authorizer.Decision
		}{
			{"allow by one of the namespace's RoleBindings", listPods(lastUser, lastNS), authorizer.DecisionAllow},
			{"no opinion (forbidden): every binding walked", listPods(stranger, lastNS), authorizer.DecisionNoOpinion},
			{"allow, a ClusterRoleBinding (system:basic-user)", authorizer.AttributesRecord{User: stranger, Verb: "create",
				APIGroup: "authorization.k8s.io", APIVersion: "v1", Resource: "selfsubjectaccessreviews", ResourceRequest: true}, authorizer.DecisionAllow},
			{"allow, a path (system:discovery)", authorizer.AttributesRecord{User: stranger, Verb: "get", Path: "/apis"}, authorizer.DecisionAllow},
			{"allow, system:masters", listPods(admin, lastNS), authorizer.DecisionAllow},
		} {
			times := make([]time.Duration, n)
			all := time.Now()
			for i := range times {
				start := time.Now()
				d, _, err := authz.Authorize(ctx, c.attrs)
				times[i] = time.Since(start)
				if d != c.want {
					return fmt.Errorf("%s: got decision %v (%v), want %v", c.name, d, err, c.want)
				}
			}
			mean := time.Since(all) / time.Duration(n)
			fmt.Printf("  %-50s %s mean %s\n", c.name, stats.Summary(times, us), us(mean))
		}
	}
	return nil
}

// populate creates namespaces prefix+ns-NNN, a Role reading pods in each,
// and bindings RoleBindings spread evenly over them, binding
// prefix+user-NNNN each.
func populate(ctx context.Context, cs kubernetes.Interface, prefix string, namespaces, bindings int) error {
	for i := range namespaces {
		ns := fmt.Sprintf("%sns-%03d", prefix, i)
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
			Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "list", "watch"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	perNS := bindings / namespaces
	var wg sync.WaitGroup
	errs := make(chan error, bindings)
	sem := make(chan struct{}, 8)
	for i := range bindings {
		ns := fmt.Sprintf("%sns-%03d", prefix, min(i/perNS, namespaces-1))
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("binding-%04d", i)},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: fmt.Sprintf("%suser-%04d", prefix, i)}},
			}, metav1.CreateOptions{})
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
