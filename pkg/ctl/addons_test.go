package ctl

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAddonsApplyDNS(t *testing.T) {
	c := startCluster(t)
	out := c.ctl("addons", "apply", "dns", "--upstream", "none")
	wantLines(t, out,
		"serviceaccount/coredns created",
		"clusterrole.rbac.authorization.k8s.io/system:coredns created",
		"clusterrolebinding.rbac.authorization.k8s.io/system:coredns created",
		"configmap/coredns created",
		"deployment.apps/coredns created",
		"service/kube-dns created",
	)
	cm, err := c.client.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	corefile := cm.Data["Corefile"]
	if !strings.Contains(corefile, "endpoint http://10.96.0.1:443\n") || strings.Contains(corefile, "forward") {
		t.Errorf("got Corefile\n%s\nwant the kubernetes Service as endpoint and no forward", corefile)
	}
	out = c.ctl("addons", "apply", "dns", "--upstream", "none")
	if strings.Count(out, " unchanged\n") != 6 {
		t.Errorf("second apply: got\n%s\nwant 6 objects unchanged", out)
	}
	if _, _, err := c.try("addons", "apply", "nope"); err == nil || !strings.Contains(err.Error(), `no add-on "nope"`) {
		t.Errorf("got %v, want an error naming the unknown add-on", err)
	}
}
