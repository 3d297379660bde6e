package upstream

import "testing"

// The sync checks must fail on the logs of a server that lacks a kind.
func TestSyncChecks(t *testing.T) {
	const missingKind = `E1203 reflector.go:227] "Failed to watch" err="failed to list *v1.DeviceTaintRule: the server could not find the requested resource (/apis/resource.k8s.io/v1/devicetaintrules)"
I1203 leaderelection.go:272] "Successfully acquired lease" lock="kube-system/kube-scheduler"
`
	const schedulerOK = `I1203 reflector.go:507] "Caches populated" type="*v1.Node"
I1203 leaderelection.go:272] "Successfully acquired lease" lock="kube-system/kube-scheduler"
`
	const controllersHalf = `I1203 shared_informer.go:524] "Waiting for caches to sync"
I1203 shared_informer.go:524] "Waiting for caches to sync"
I1203 shared_informer.go:531] "Caches are synced"
I1203 leaderelection.go:272] "Successfully acquired lease" lock="kube-system/kube-controller-manager"
`
	const controllersOK = controllersHalf + `I1203 shared_informer.go:531] "Caches are synced"
`
	const proxyHalf = `I1205 shared_informer.go:503] "Waiting for caches to sync" controller="service config"
I1205 shared_informer.go:503] "Waiting for caches to sync" controller="endpoint slice config"
I1205 shared_informer.go:510] "Caches are synced" controller="service config"
`
	const proxyOK = proxyHalf + `I1205 shared_informer.go:510] "Caches are synced" controller="endpoint slice config"
E1205 proxier.go:1285] "Failed to list existing sets" err="receiveAckAware: netlink receive: no such file or directory" ipFamily="IPv4"
`
	const forbidden = `E1205 reflector.go:205] "Failed to watch" err="failed to list *v1.ServiceCIDR: servicecidrs.networking.k8s.io is forbidden"
`
	tests := []struct {
		name  string
		check func(string) (bool, []string)
		log   string
		want  bool
	}{
		{"scheduler, a kind not served", schedulerSynced, missingKind, false},
		{"scheduler, synced", schedulerSynced, schedulerOK, true},
		{"scheduler, nothing yet", schedulerSynced, "", false},
		{"controllers, one set pending", controllersSynced, controllersHalf, false},
		{"controllers, synced", controllersSynced, controllersOK, true},
		{"controllers, a kind not served", controllersSynced, controllersOK + missingKind, false},
		{"kube-proxy, endpoint slices pending", kubeProxySynced, proxyHalf, false},
		{"kube-proxy, synced (a first sync's nft error is not an informer's)", kubeProxySynced, proxyOK, true},
		{"kube-proxy, a list forbidden", kubeProxySynced, proxyOK + forbidden, false},
		{"kube-proxy, nothing yet", kubeProxySynced, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing := tt.check(tt.log)
			if got != tt.want {
				t.Errorf("got %v (missing %v), want %v", got, missing, tt.want)
			}
		})
	}
}
