package kubelet

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"minik8s/pkg/nodeclient"
)

// KubeletVersion is what the Node reports as its kubelet version.
const KubeletVersion = "v1.37.2-minik8s"

type nodeManager struct {
	cfg    *Config
	client *nodeclient.Client
	rt     *containerdRuntime
	nodeIP string
	port   int32
}

func newNodeManager(cfg *Config, client *nodeclient.Client, rt *containerdRuntime, nodeIP string, port int32) *nodeManager {
	return &nodeManager{cfg: cfg, client: client, rt: rt, nodeIP: nodeIP, port: port}
}

// capacity is --capacity over what the machine has.
func capacity(cfg *Config) v1.ResourceList {
	rl := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		v1.ResourcePods:   resource.MustParse("110"),
	}
	for k, v := range cfg.Capacity {
		rl[v1.ResourceName(k)] = resource.MustParse(v)
	}
	return rl
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fs[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func kernelVersion() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// desired fills the parts of node this agent owns.
func (m *nodeManager) desired(ctx context.Context, node *v1.Node) {
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	node.Labels["kubernetes.io/hostname"] = m.cfg.NodeName
	node.Labels["kubernetes.io/os"] = runtime.GOOS
	node.Labels["kubernetes.io/arch"] = goarch()
	node.Labels["beta.kubernetes.io/os"] = runtime.GOOS
	node.Labels["beta.kubernetes.io/arch"] = goarch()
	if m.cfg.PodCIDR != "" && node.Spec.PodCIDR == "" {
		node.Spec.PodCIDR = m.cfg.PodCIDR
		node.Spec.PodCIDRs = []string{m.cfg.PodCIDR}
	}
	m.status(ctx, node)
}

func (m *nodeManager) status(ctx context.Context, node *v1.Node) {
	s := &node.Status
	s.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: m.nodeIP}, {Type: v1.NodeHostName, Address: m.cfg.NodeName}}
	s.Capacity = capacity(m.cfg)
	s.Allocatable = s.Capacity.DeepCopy()
	s.DaemonEndpoints.KubeletEndpoint.Port = m.port
	s.NodeInfo = v1.NodeSystemInfo{
		MachineID: machineID(), KernelVersion: kernelVersion(), OSImage: osImage(),
		ContainerRuntimeVersion: "containerd://" + m.rt.version(ctx),
		KubeletVersion:          KubeletVersion, OperatingSystem: runtime.GOOS, Architecture: goarch(),
	}
	now := metav1.Now()
	ready := v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
		Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
	if err := m.rt.healthy(ctx); err != nil {
		ready.Status, ready.Reason, ready.Message = v1.ConditionFalse, "KubeletNotReady", "container runtime is down: "+err.Error()
	}
	conds := []v1.NodeCondition{ready}
	for _, t := range []v1.NodeConditionType{v1.NodeMemoryPressure, v1.NodeDiskPressure, v1.NodePIDPressure} {
		conds = append(conds, v1.NodeCondition{Type: t, Status: v1.ConditionFalse, Reason: "Kubelet" + "HasNo" + string(t),
			Message: "kubelet has no " + strings.ToLower(strings.TrimSuffix(string(t), "Pressure")) + " pressure", LastHeartbeatTime: now, LastTransitionTime: now})
	}
	for i := range conds {
		for _, old := range s.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status && !old.LastTransitionTime.IsZero() {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	s.Conditions = conds
	s.Phase = ""
}

func machineID() string {
	b, _ := os.ReadFile("/etc/machine-id")
	return strings.TrimSpace(string(b))
}

// register creates or updates the Node and returns its pod CIDR, waiting
// for node IPAM when --pod-cidr is not given.
func (m *nodeManager) register(ctx context.Context) (string, error) {
	logger := klog.FromContext(ctx)
	nodes := m.client.Nodes()
	for {
		node, err := nodes.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			node = &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: m.cfg.NodeName}}
			m.desired(ctx, node)
			created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				logger.Error(err, "registering node")
				break
			}
			if err == nil {
				node = created
				node.Status = v1.NodeStatus{}
				m.status(ctx, node)
				if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
					logger.Error(err, "posting node status")
				}
				logger.Info("registered node")
			}
			continue
		case err != nil:
			logger.Error(err, "reading node")
		default:
			m.desired(ctx, node)
			updated, err := nodes.Update(ctx, node, metav1.UpdateOptions{})
			if err != nil {
				logger.Error(err, "updating node")
				break
			}
			updated.Status = node.Status
			if _, err := nodes.UpdateStatus(ctx, updated, metav1.UpdateOptions{}); err != nil {
				logger.Error(err, "posting node status")
			}
			if updated.Spec.PodCIDR != "" {
				return updated.Spec.PodCIDR, nil
			}
			logger.Info("waiting for node IPAM to assign a pod CIDR")
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// heartbeat renews the Lease every quarter of its duration and posts the
// Node status every StatusInterval.
func (m *nodeManager) heartbeat(ctx context.Context) {
	leaseTick := time.NewTicker(m.cfg.LeaseDuration / 4)
	defer leaseTick.Stop()
	statusTick := time.NewTicker(m.cfg.StatusInterval)
	defer statusTick.Stop()
	m.renewLease(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-leaseTick.C:
			m.renewLease(ctx)
		case <-statusTick.C:
			m.postStatus(ctx)
		}
	}
}

func (m *nodeManager) postStatus(ctx context.Context) {
	nodes := m.client.Nodes()
	node, err := nodes.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		klog.FromContext(ctx).Error(err, "reading node for status")
		return
	}
	m.status(ctx, node)
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		klog.FromContext(ctx).Error(err, "posting node status")
	}
}

func (m *nodeManager) renewLease(ctx context.Context) {
	leases := m.client.Leases("kube-node-lease")
	now := metav1.NewMicroTime(time.Now())
	secs := int32(m.cfg.LeaseDuration / time.Second)
	lease, err := leases.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: m.cfg.NodeName, Namespace: "kube-node-lease"},
			Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(m.cfg.NodeName), LeaseDurationSeconds: &secs, RenewTime: &now},
		}
		if node, err := m.client.Nodes().Get(ctx, m.cfg.NodeName, metav1.GetOptions{}); err == nil {
			lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		if err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "creating node lease")
		}
		return
	}
	if err != nil {
		if ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "reading node lease")
		}
		return
	}
	lease.Spec.HolderIdentity = ptr.To(m.cfg.NodeName)
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, lease, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		klog.FromContext(ctx).Error(err, "renewing node lease")
	}
}
