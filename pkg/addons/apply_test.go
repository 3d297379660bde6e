package addons

import (
	"context"
	"os"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"minik8s/pkg/apiserver/apiservertest"
)

func actions(rs []Result) map[string]string {
	m := map[string]string{}
	for _, r := range rs {
		m[r.Ref] = r.Action
	}
	return m
}

// checkApply applies the DNS add-on three times against cs: fresh, again,
// and with a new image after the Corefile was edited.
func checkApply(t *testing.T, cs kubernetes.Interface) {
	ctx := context.Background()
	cfg := NewDNSConfig()
	rs, err := Apply(ctx, cs, DNS(cfg), nil)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if len(rs) != 6 {
		t.Fatalf("got %d results, want 6", len(rs))
	}
	for _, r := range rs {
		if r.Action != "created" {
			t.Errorf("first apply: got %s %s, want created", r.Ref, r.Action)
		}
	}
	svc, err := cs.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.96.0.10" {
		t.Errorf("got kube-dns ClusterIP %s, want 10.96.0.10", svc.Spec.ClusterIP)
	}

	rs, err = Apply(ctx, cs, DNS(cfg), nil)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range rs {
		if r.Action != "unchanged" {
			t.Errorf("second apply: got %s %s, want unchanged", r.Ref, r.Action)
		}
	}

	cm, _ := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
	cm.Data["Corefile"] = ".:53 {\n    whoami\n}\n"
	if _, err := cs.CoreV1().ConfigMaps("kube-system").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg.Image = "example.com/coredns:9"
	rs, err = Apply(ctx, cs, DNS(cfg), nil)
	if err != nil {
		t.Fatalf("third apply: %v", err)
	}
	got := actions(rs)
	if got["deployment.apps/coredns"] != "configured" || got["configmap/coredns"] != "unchanged" || got["service/kube-dns"] != "unchanged" {
		t.Errorf("third apply: got %v, want the Deployment configured, the rest unchanged", got)
	}
	d, _ := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
	if img := d.Spec.Template.Spec.Containers[0].Image; img != cfg.Image {
		t.Errorf("got image %s, want %s", img, cfg.Image)
	}
	cm, _ = cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
	if !strings.Contains(cm.Data["Corefile"], "whoami") {
		t.Errorf("got Corefile %q, want the edited one kept", cm.Data["Corefile"])
	}
}

func TestApplyFake(t *testing.T) {
	checkApply(t, fake.NewClientset())
}

// TestApplyAPIServer checks that the real API server accepts the objects
// (validation, defaulting, the fixed ClusterIP) and that a re-apply of
// defaulted objects still changes nothing.
func TestApplyAPIServer(t *testing.T) {
	srv := apiservertest.Start(t)
	checkApply(t, kubernetes.NewForConfigOrDie(srv.Config))
}

func TestApplyRefusesOtherClusterIP(t *testing.T) {
	cs := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: "kube-system"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.96.0.99"},
	})
	_, err := Apply(context.Background(), cs, DNS(NewDNSConfig()), nil)
	if err == nil || !strings.Contains(err.Error(), "10.96.0.99") {
		t.Errorf("got %v, want an error naming the existing ClusterIP", err)
	}
}

func TestCorefile(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*DNSConfig)
		want     []string
		wantNone []string
	}{
		{"kubeadm's default", func(*DNSConfig) {},
			[]string{"kubernetes cluster.local in-addr.arpa ip6.arpa {", "pods insecure", "fallthrough in-addr.arpa ip6.arpa", "ttl 30", "prometheus :9153", "forward . /etc/resolv.conf {", "cache 30 {\n        disable success cluster.local\n        disable denial cluster.local\n    }", "loop", "reload", "loadbalance", "ready", "lameduck 5s"},
			[]string{"endpoint"}},
		{"no upstream and an API server endpoint", func(c *DNSConfig) { c.Upstream, c.APIServer = "", "http://10.96.0.1:443" },
			[]string{"endpoint http://10.96.0.1:443", "cache 30"},
			[]string{"forward"}},
		{"another domain", func(c *DNSConfig) { c.ClusterDomain = "corp.internal" },
			[]string{"kubernetes corp.internal in-addr.arpa ip6.arpa {"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDNSConfig()
			tt.mutate(c)
			got := c.Corefile()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("got Corefile\n%s\nwant it to hold %q", got, w)
				}
			}
			for _, w := range tt.wantNone {
				if strings.Contains(got, w) {
					t.Errorf("got Corefile\n%s\nwant no %q", got, w)
				}
			}
		})
	}
}

func TestDNSConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*DNSConfig)
		wantErr bool
	}{
		{"defaults", func(*DNSConfig) {}, false},
		{"bad ClusterIP", func(c *DNSConfig) { c.ClusterIP = "dns" }, true},
		{"bad API server", func(c *DNSConfig) { c.APIServer = "10.96.0.1:443" }, true},
		{"brace in upstream", func(c *DNSConfig) { c.Upstream = "1.1.1.1 }" }, true},
		{"negative replicas", func(c *DNSConfig) { c.Replicas = -1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDNSConfig()
			tt.mutate(c)
			if err := c.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("got %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

// TestCoreDNSVersion keeps the image tag in step with the CoreDNS module
// cmd/coredns builds.
func TestCoreDNSVersion(t *testing.T) {
	b, err := os.ReadFile("../../cmd/coredns/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/coredns/coredns v" + CoreDNSVersion + "\n"
	if !strings.Contains(string(b), want) {
		t.Errorf("cmd/coredns/go.mod does not require %q: bump CoreDNSVersion with it", strings.TrimSpace(want))
	}
}

func TestDNSObjects(t *testing.T) {
	objs := DNS(NewDNSConfig())
	d := objs[4].(*appsv1.Deployment)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if *d.Spec.Replicas != 2 || spec.DNSPolicy != corev1.DNSDefault || spec.ServiceAccountName != "coredns" {
		t.Errorf("got replicas %d, dnsPolicy %s, serviceAccount %s; want 2, Default, coredns", *d.Spec.Replicas, spec.DNSPolicy, spec.ServiceAccountName)
	}
	if c.ReadinessProbe.HTTPGet.Port.IntValue() != 8181 || c.ReadinessProbe.HTTPGet.Path != "/ready" ||
		c.LivenessProbe.HTTPGet.Port.IntValue() != 8080 || c.LivenessProbe.HTTPGet.Path != "/health" {
		t.Errorf("got probes %v %v, want readiness :8181/ready and liveness :8080/health", c.ReadinessProbe.HTTPGet, c.LivenessProbe.HTTPGet)
	}
	if spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("got anti-affinity %v, want preferred by kubernetes.io/hostname", spec.Affinity.PodAntiAffinity)
	}
	if d.Spec.Template.Labels["k8s-app"] != "kube-dns" {
		t.Errorf("got pod labels %v, want k8s-app=kube-dns", d.Spec.Template.Labels)
	}
}
