package scheduler

import (
	"slices"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter Filter
		pod    *v1.Pod
		node   *NodeInfo
		want   []string
	}{
		{"ready", FilterReady, pod("p", "", ""), NewNodeInfo(node("n", "1", "1Gi", 10)), nil},
		{"not ready", FilterReady, pod("p", "", ""), NewNodeInfo(node("n", "1", "1Gi", 10, notReady)), []string{ReasonNotReady}},
		{"no ready condition", FilterReady, pod("p", "", ""), NewNodeInfo(node("n", "1", "1Gi", 10, func(n *v1.Node) { n.Status.Conditions = nil })), []string{ReasonNotReady}},
		{"not ready tolerated", FilterReady,
			pod("p", "", "", withToleration(v1.Toleration{Key: v1.TaintNodeNotReady, Operator: v1.TolerationOpExists})),
			NewNodeInfo(node("n", "1", "1Gi", 10, notReady)), nil},

		{"schedulable", FilterUnschedulable, pod("p", "", ""), NewNodeInfo(node("n", "1", "1Gi", 10)), nil},
		{"cordoned", FilterUnschedulable, pod("p", "", ""), NewNodeInfo(node("n", "1", "1Gi", 10, cordoned)), []string{ReasonUnschedulable}},
		{"cordoned tolerated", FilterUnschedulable,
			pod("p", "", "", withToleration(v1.Toleration{Key: v1.TaintNodeUnschedulable, Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule})),
			NewNodeInfo(node("n", "1", "1Gi", 10, cordoned)), nil},

		{"no taints", FilterTaints, pod("p", "", ""), NewNodeInfo(node("n", "1", "1Gi", 10)), nil},
		{"NoSchedule taint", FilterTaints, pod("p", "", ""),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule))),
			[]string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"NoExecute taint", FilterTaints, pod("p", "", ""),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint(v1.TaintNodeUnreachable, "", v1.TaintEffectNoExecute))),
			[]string{"node(s) had untolerated taint {node.kubernetes.io/unreachable: }"}},
		{"PreferNoSchedule does not filter", FilterTaints, pod("p", "", ""),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint("soft", "x", v1.TaintEffectPreferNoSchedule))), nil},
		{"Equal toleration", FilterTaints,
			pod("p", "", "", withToleration(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "gpu", Effect: v1.TaintEffectNoSchedule})),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule))), nil},
		{"Equal toleration wrong value", FilterTaints,
			pod("p", "", "", withToleration(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpEqual, Value: "cpu", Effect: v1.TaintEffectNoSchedule})),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoSchedule))),
			[]string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"Exists toleration any effect", FilterTaints,
			pod("p", "", "", withToleration(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists})),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoExecute))), nil},
		{"toleration for other effect", FilterTaints,
			pod("p", "", "", withToleration(v1.Toleration{Key: "dedicated", Operator: v1.TolerationOpExists, Effect: v1.TaintEffectNoSchedule})),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint("dedicated", "gpu", v1.TaintEffectNoExecute))),
			[]string{"node(s) had untolerated taint {dedicated: gpu}"}},
		{"empty key Exists tolerates all", FilterTaints,
			pod("p", "", "", withToleration(v1.Toleration{Operator: v1.TolerationOpExists})),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint("a", "1", v1.TaintEffectNoSchedule), withTaint("b", "2", v1.TaintEffectNoExecute))), nil},
		{"not-ready taint", FilterTaints, pod("p", "", ""),
			NewNodeInfo(node("n", "1", "1Gi", 10, withTaint(v1.TaintNodeNotReady, "", v1.TaintEffectNoSchedule))),
			[]string{"node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}},

		{"selector matches", FilterNodeAffinity, pod("p", "", "", withSelector("disk", "ssd")),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("disk", "ssd"))), nil},
		{"selector mismatch", FilterNodeAffinity, pod("p", "", "", withSelector("disk", "ssd")),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("disk", "hdd"))), []string{ReasonNodeAffinity}},
		{"In", FilterNodeAffinity, pod("p", "", "", withRequired(expr("zone", v1.NodeSelectorOpIn, "a", "b"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("zone", "b"))), nil},
		{"In mismatch", FilterNodeAffinity, pod("p", "", "", withRequired(expr("zone", v1.NodeSelectorOpIn, "a"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("zone", "b"))), []string{ReasonNodeAffinity}},
		{"NotIn", FilterNodeAffinity, pod("p", "", "", withRequired(expr("zone", v1.NodeSelectorOpNotIn, "a"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("zone", "a"))), []string{ReasonNodeAffinity}},
		{"Exists", FilterNodeAffinity, pod("p", "", "", withRequired(expr("gpu", v1.NodeSelectorOpExists))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("gpu", ""))), nil},
		{"DoesNotExist", FilterNodeAffinity, pod("p", "", "", withRequired(expr("gpu", v1.NodeSelectorOpDoesNotExist))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("gpu", "1"))), []string{ReasonNodeAffinity}},
		{"Gt", FilterNodeAffinity, pod("p", "", "", withRequired(expr("cores", v1.NodeSelectorOpGt, "8"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("cores", "16"))), nil},
		{"Gt fails", FilterNodeAffinity, pod("p", "", "", withRequired(expr("cores", v1.NodeSelectorOpGt, "8"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("cores", "8"))), []string{ReasonNodeAffinity}},
		{"Lt", FilterNodeAffinity, pod("p", "", "", withRequired(expr("cores", v1.NodeSelectorOpLt, "8"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("cores", "4"))), nil},
		{"terms are ORed", FilterNodeAffinity,
			pod("p", "", "", withRequired(expr("zone", v1.NodeSelectorOpIn, "x"), expr("zone", v1.NodeSelectorOpIn, "a"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("zone", "a"))), nil},
		{"matchFields metadata.name matches (DaemonSet pods)", FilterNodeAffinity,
			pod("p", "", "", withRequired(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"n"}}}})),
			NewNodeInfo(node("n", "1", "1Gi", 10)), nil},
		{"matchFields metadata.name", FilterNodeAffinity,
			pod("p", "", "", withRequired(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"other"}}}})),
			NewNodeInfo(node("n", "1", "1Gi", 10)), []string{ReasonNodeAffinity}},
		{"selector and affinity both needed", FilterNodeAffinity,
			pod("p", "", "", withSelector("disk", "ssd"), withRequired(expr("zone", v1.NodeSelectorOpIn, "a"))),
			NewNodeInfo(node("n", "1", "1Gi", 10, withLabels("zone", "a"))), []string{ReasonNodeAffinity}},

		{"free port", FilterHostPorts, pod("p", "", "", withHostPort(8080, "", "")),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "", "", withHostPort(8081, v1.ProtocolTCP, ""))), nil},
		{"port taken", FilterHostPorts, pod("p", "", "", withHostPort(8080, "", "")),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "", "", withHostPort(8080, v1.ProtocolTCP, ""))), []string{ReasonNodePorts}},
		{"other protocol", FilterHostPorts, pod("p", "", "", withHostPort(53, v1.ProtocolUDP, "")),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "", "", withHostPort(53, v1.ProtocolTCP, ""))), nil},
		{"different host IPs", FilterHostPorts, pod("p", "", "", withHostPort(80, "", "10.0.0.1")),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "", "", withHostPort(80, "", "10.0.0.2"))), nil},
		{"wildcard overlaps an IP", FilterHostPorts, pod("p", "", "", withHostPort(80, "", "0.0.0.0")),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "", "", withHostPort(80, "", "10.0.0.2"))), []string{ReasonNodePorts}},

		{"fits", FilterResources, pod("p", "500m", "512Mi"),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "500m", "512Mi")), nil},
		{"insufficient cpu", FilterResources, pod("p", "600m", "100Mi"),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "500m", "")), []string{"Insufficient cpu"}},
		{"insufficient cpu and memory", FilterResources, pod("p", "2", "2Gi"),
			NewNodeInfo(node("n", "1", "1Gi", 10)), []string{"Insufficient cpu", "Insufficient memory"}},
		{"too many pods", FilterResources, pod("p", "", ""),
			NewNodeInfo(node("n", "1", "1Gi", 1), pod("q", "", "")), []string{"Too many pods"}},
		{"init container counts", FilterResources, pod("p", "100m", "", withInit("2")),
			NewNodeInfo(node("n", "1", "1Gi", 10)), []string{"Insufficient cpu"}},
		{"ephemeral-storage", FilterResources, pod("p", "", "", withRequest(v1.ResourceEphemeralStorage, "2Gi")),
			NewNodeInfo(node("n", "1", "1Gi", 10, withAllocatable(v1.ResourceEphemeralStorage, "1Gi"))), []string{"Insufficient ephemeral-storage"}},
		{"ephemeral-storage not asked", FilterResources, pod("p", "", ""),
			NewNodeInfo(node("n", "1", "1Gi", 10)), nil},
		{"extended resource", FilterResources, pod("p", "", "", withRequest("example.com/gpu", "1")),
			NewNodeInfo(node("n", "1", "1Gi", 10)), []string{"Insufficient example.com/gpu"}},
		{"zero requests fit a full node", FilterResources, pod("p", "", ""),
			NewNodeInfo(node("n", "1", "1Gi", 10), pod("q", "1", "1Gi")), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.filter(NewPodInfo(tt.pod), tt.node)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
