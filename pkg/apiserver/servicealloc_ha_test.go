package apiserver_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"minik8s/pkg/apiserver"
	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/storage"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/registry/core/service/portallocator"
)

// startPair starts two apiservers on one etcd (the first's embedded one).
func startPair(t *testing.T) (a, b *apiservertest.Server) {
	t.Helper()
	a = apiservertest.Start(t)
	b = apiservertest.StartWith(t, t.TempDir(), func(cfg *apiserver.Config) {
		cfg.EtcdServers = []string{a.Server.EtcdEndpoint()}
	})
	return a, b
}

func nodePortService(name, clusterIP string, nodePort int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: clusterIP, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, NodePort: nodePort}}},
	}
}

// allocations are the ClusterIPs (IPAddress objects) and NodePorts (the
// stored bitmap) held in etcd.
func allocations(t *testing.T, s *apiservertest.Server, cs kubernetes.Interface) (ips map[string]string, ports []int) {
	t.Helper()
	ctx := context.Background()
	list, err := cs.NetworkingV1().IPAddresses().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ips = map[string]string{}
	for _, ip := range list.Items {
		ref := ip.Spec.ParentRef
		ips[ip.Name] = ref.Resource + "/" + ref.Namespace + "/" + ref.Name
	}
	var ra corev1.RangeAllocation
	if err := s.Server.Store().Get(ctx, storage.Key("ranges", "", "servicenodeports"), &ra); err != nil {
		t.Fatal(err)
	}
	pa, err := portallocator.NewFromSnapshot(&api.RangeAllocation{Range: ra.Range, Data: ra.Data})
	if err != nil {
		t.Fatal(err)
	}
	pa.ForEach(func(p int) { ports = append(ports, p) })
	slices.Sort(ports)
	return ips, ports
}

// checkConsistent: etcd holds exactly the ClusterIPs and NodePorts of the
// stored Services, each IPAddress naming its Service.
func checkConsistent(t *testing.T, s *apiservertest.Server, cs kubernetes.Interface) {
	t.Helper()
	svcs, err := cs.CoreV1().Services("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantIPs := map[string]string{}
	var wantPorts []int
	for _, svc := range svcs.Items {
		for _, ip := range svc.Spec.ClusterIPs {
			if ip != corev1.ClusterIPNone {
				wantIPs[ip] = "services/" + svc.Namespace + "/" + svc.Name
			}
		}
		for _, p := range svc.Spec.Ports {
			if p.NodePort != 0 {
				wantPorts = append(wantPorts, int(p.NodePort))
			}
		}
		if svc.Spec.HealthCheckNodePort != 0 {
			wantPorts = append(wantPorts, int(svc.Spec.HealthCheckNodePort))
		}
	}
	slices.Sort(wantPorts)
	gotIPs, gotPorts := allocations(t, s, cs)
	if fmt.Sprint(gotIPs) != fmt.Sprint(wantIPs) {
		t.Errorf("IPAddresses: got %v, want %v", gotIPs, wantIPs)
	}
	if !slices.Equal(gotPorts, wantPorts) {
		t.Errorf("allocated node ports: got %v, want %v", gotPorts, wantPorts)
	}
}

// TestTwoAPIServersAllocate: two apiservers on one etcd never give two
// Services one ClusterIP or NodePort, allocated or requested.
func TestTwoAPIServersAllocate(t *testing.T) {
	a, b := startPair(t)
	clients := []kubernetes.Interface{clientset(t, a), clientset(t, b)}
	ctx := context.Background()

	t.Run("allocated", func(t *testing.T) {
		const n = 200
		out := make([]*corev1.Service, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out[i], errs[i] = clients[i%2].CoreV1().Services("default").Create(ctx, nodePortService(fmt.Sprintf("np-%d", i), "", 0), metav1.CreateOptions{})
			}()
		}
		wg.Wait()
		ips, ports := map[string]string{}, map[int32]string{}
		for i, svc := range out {
			if errs[i] != nil {
				t.Fatalf("create np-%d: %v", i, errs[i])
			}
			if other, ok := ips[svc.Spec.ClusterIP]; ok {
				t.Errorf("ClusterIP %s given to %s and %s", svc.Spec.ClusterIP, other, svc.Name)
			}
			ips[svc.Spec.ClusterIP] = svc.Name
			np := svc.Spec.Ports[0].NodePort
			if other, ok := ports[np]; ok {
				t.Errorf("NodePort %d given to %s and %s", np, other, svc.Name)
			}
			ports[np] = svc.Name
		}
		if len(ips) != n || len(ports) != n {
			t.Errorf("got %d distinct ClusterIPs and %d distinct NodePorts, want %d of each", len(ips), len(ports), n)
		}
		checkConsistent(t, a, clients[0])
	})

	t.Run("requested", func(t *testing.T) {
		// Each address and node port is asked for by two Services at
		// once, one through each server: at most one gets them, the
		// other is refused with kube-apiserver's error (both are when
		// each took one of the two first). The addresses and ports are
		// in the bands dynamic allocation leaves to requests.
		const n = 30
		errs := make([][2]error, n)
		var wg sync.WaitGroup
		for i := range n {
			for j := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					svc := nodePortService(fmt.Sprintf("req-%d-%d", i, j), fmt.Sprintf("10.96.0.%d", 100+i), int32(30010+i))
					_, errs[i][j] = clients[j].CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
				}()
			}
		}
		wg.Wait()
		for i, pair := range errs {
			if pair[0] == nil && pair[1] == nil {
				t.Errorf("pair %d: both created", i)
			}
			for j, err := range pair {
				if err == nil {
					continue
				}
				ipMsg := fmt.Sprintf(`Service "req-%d-%d" is invalid: spec.clusterIPs: Invalid value: ["10.96.0.%d"]: failed to allocate IP 10.96.0.%d: provided IP is already allocated`, i, j, 100+i, 100+i)
				portMsg := fmt.Sprintf(`Service "req-%d-%d" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, i, j, 30010+i)
				var status apierrors.APIStatus
				if !errors.As(err, &status) || status.Status().Code != 422 || (err.Error() != ipMsg && err.Error() != portMsg) {
					t.Errorf("pair %d: got %v, want 422 %s (or the port's)", i, err, ipMsg)
				}
			}
		}
		// Only the node port contested: exactly one of each pair wins.
		for i := range n {
			for j := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					svc := nodePortService(fmt.Sprintf("port-%d-%d", i, j), "", int32(30050+i))
					_, errs[i][j] = clients[j].CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
				}()
			}
		}
		wg.Wait()
		for i, pair := range errs {
			loser := slices.IndexFunc(pair[:], func(err error) bool { return err != nil })
			if loser < 0 || pair[1-loser] != nil {
				t.Errorf("port pair %d: got errors %v, want exactly one", i, pair)
				continue
			}
			want := fmt.Sprintf(`Service "port-%d-%d" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, i, loser, 30050+i)
			if err := pair[loser]; !apierrors.IsInvalid(err) || err.Error() != want {
				t.Errorf("port pair %d: got %v, want %s", i, err, want)
			}
		}
		// What the losers allocated before they failed was released:
		// etcd holds only what the Services hold.
		checkConsistent(t, b, clients[1])
	})

	t.Run("delete", func(t *testing.T) {
		svcs, err := clients[0].CoreV1().Services("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i, svc := range svcs.Items {
			if svc.Name == "kubernetes" {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := clients[i%2].CoreV1().Services("default").Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil {
					t.Errorf("delete %s: %v", svc.Name, err)
				}
			}()
		}
		wg.Wait()
		checkConsistent(t, a, clients[0])
	})
}

// TestServiceAllocationTransitions: creates, updates between types,
// failed writes and deletes leave etcd holding exactly the allocations
// of the stored Services.
func TestServiceAllocationTransitions(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	svcs := cs.CoreV1().Services("default")
	ctx := context.Background()
	base, err := svcs.Create(ctx, nodePortService("taken", "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	taken := base.Spec.Ports[0].NodePort
	update := func(change func(*corev1.Service)) func() error {
		return func() error {
			cur, err := svcs.Get(ctx, "t", metav1.GetOptions{})
			if err != nil {
				return err
			}
			change(cur)
			_, err = svcs.Update(ctx, cur, metav1.UpdateOptions{})
			return err
		}
	}
	create := func(svc *corev1.Service, opts metav1.CreateOptions) func() error {
		return func() error { _, err := svcs.Create(ctx, svc, opts); return err }
	}
	twoPorts := nodePortService("two", "", 0)
	twoPorts.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 81, NodePort: taken}}
	badSelector := nodePortService("bad", "", 0)
	badSelector.Spec.Selector = map[string]string{"app": "not a label value!"}
	for _, tt := range []struct {
		name    string
		do      func() error
		wantErr string // "" for success
		check   func(t *testing.T, svc *corev1.Service)
	}{
		{name: "create NodePort", do: create(nodePortService("t", "", 0), metav1.CreateOptions{}), check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.ClusterIP == "" || svc.Spec.Ports[0].NodePort == 0 {
				t.Errorf("got clusterIP %q nodePort %d, want both allocated", svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort)
			}
		}},
		{name: "NodePort to ClusterIP releases the node port", do: update(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Spec.Ports[0].NodePort = 0
		}), check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.Ports[0].NodePort != 0 {
				t.Errorf("got nodePort %d, want 0", svc.Spec.Ports[0].NodePort)
			}
		}},
		{name: "ClusterIP to NodePort allocates one", do: update(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort })},
		{name: "LoadBalancer with Local traffic gets a health check port", do: update(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}), check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.HealthCheckNodePort == 0 {
				t.Error("got no healthCheckNodePort")
			}
		}},
		{name: "an update refused by validation releases what it allocated", do: update(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "x", Port: 82})
			s.Spec.Selector = map[string]string{"app": "not a label value!"}
		}), wantErr: "Invalid value"},
		{name: "a requested node port that is taken", do: update(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "x", Port: 82, NodePort: taken})
		}), wantErr: fmt.Sprintf(`Service "t" is invalid: spec.ports[1].nodePort: Invalid value: %d: provided port is already allocated`, taken)},
		{name: "LoadBalancer to ExternalName releases the address and ports", do: update(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
			s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
			s.Spec.ExternalTrafficPolicy = ""
		}), check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.ClusterIP != "" || svc.Spec.Ports[0].NodePort != 0 || svc.Spec.HealthCheckNodePort != 0 {
				t.Errorf("got clusterIP %q nodePort %d healthCheckNodePort %d, want none", svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort, svc.Spec.HealthCheckNodePort)
			}
		}},
		{name: "ExternalName to ClusterIP allocates an address", do: update(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeClusterIP
			s.Spec.ExternalName = ""
		}), check: func(t *testing.T, svc *corev1.Service) {
			if svc.Spec.ClusterIP == "" {
				t.Error("got no clusterIP")
			}
		}},
		{name: "a create whose second port is taken releases the first", do: create(twoPorts, metav1.CreateOptions{}),
			wantErr: fmt.Sprintf(`Service "two" is invalid: spec.ports[1].nodePort: Invalid value: %d: provided port is already allocated`, taken)},
		{name: "a create refused by validation releases what it allocated", do: create(badSelector, metav1.CreateOptions{}), wantErr: "Invalid value"},
		{name: "a dry-run create allocates nothing", do: create(nodePortService("dry", "", 0), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})},
		{name: "a requested address outside the range", do: create(nodePortService("out", "10.1.0.5", 0), metav1.CreateOptions{}),
			wantErr: `Service "out" is invalid: spec.clusterIPs: Invalid value: ["10.1.0.5"]: failed to allocate IP 10.1.0.5: the provided network does not match the current range`},
		{name: "delete releases", do: func() error { return svcs.Delete(ctx, "t", metav1.DeleteOptions{}) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantErr != "" && (err == nil || !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want 422 %s", err, tt.wantErr)
			}
			if tt.check != nil {
				svc, err := svcs.Get(ctx, "t", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, svc)
			}
			checkConsistent(t, s, cs)
		})
	}
}

// TestServiceAllocationRepairAtStart: allocations missing from etcd (a
// crash between writes, or data of a version that kept them in memory)
// are recorded again by the repair at start, before any new allocation.
func TestServiceAllocationRepairAtStart(t *testing.T) {
	dir := t.TempDir()
	s := apiservertest.StartWith(t, dir, nil)
	cs := clientset(t, s)
	ctx := context.Background()
	svc, err := cs.CoreV1().Services("default").Create(ctx, nodePortService("a", "", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Lose every allocation.
	kv := s.Server.Store().Client()
	for _, prefix := range []string{storage.Prefix("ipaddresses", ""), storage.Key("ranges", "", "servicenodeports")} {
		if _, err := kv.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
			t.Fatal(err)
		}
	}
	s.Server.Close()

	s2 := apiservertest.StartWith(t, dir, nil)
	cs2 := clientset(t, s2)
	checkConsistent(t, s2, cs2)
	ip, np := svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort
	_, err = cs2.CoreV1().Services("default").Create(ctx, nodePortService("b", ip, np), metav1.CreateOptions{})
	want := fmt.Sprintf(`Service "b" is invalid: spec.clusterIPs: Invalid value: ["%s"]: failed to allocate IP %s: provided IP is already allocated`, ip, ip)
	if err == nil || err.Error() != want {
		t.Fatalf("taken address after the repair: got %v, want %s", err, want)
	}
	_, err = cs2.CoreV1().Services("default").Create(ctx, nodePortService("c", "", np), metav1.CreateOptions{})
	want = fmt.Sprintf(`Service "c" is invalid: spec.ports[0].nodePort: Invalid value: %d: provided port is already allocated`, np)
	if err == nil || err.Error() != want {
		t.Fatalf("taken node port after the repair: got %v, want %s", err, want)
	}
}
