package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

func sc(name, provisioner string, mode storagev1.VolumeBindingMode) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
}

func claim(name, class string, mods ...func(*v1.PersistentVolumeClaim)) *v1.PersistentVolumeClaim {
	c := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: v1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Resources:        v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func boundTo(vol string) func(*v1.PersistentVolumeClaim) {
	return func(c *v1.PersistentVolumeClaim) {
		c.Spec.VolumeName = vol
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
	}
}

func selectedNode(n string) func(*v1.PersistentVolumeClaim) {
	return func(c *v1.PersistentVolumeClaim) {
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, storagehelpers.AnnSelectedNode, n)
	}
}

// localPV is a free volume of class on node.
func localPV(name, class, node string) *v1.PersistentVolume {
	return &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1.PersistentVolumeSpec{
			Capacity:         v1.ResourceList{v1.ResourceStorage: resource.MustParse("5Gi")},
			AccessModes:      []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			StorageClassName: class,
			NodeAffinity: &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
				MatchExpressions: []v1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
		Status: v1.PersistentVolumeStatus{Phase: v1.VolumeAvailable},
	}
}

func podWithClaims(names ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "pod"}}
	for _, n := range names {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: n, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: n}}})
	}
	return p
}

func listersFor(t *testing.T, objs ...runtime.Object) (volumeListers, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *v1.PersistentVolume:
			err = f.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
		case *v1.PersistentVolumeClaim:
			err = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return volumeListers{
		claims:  f.Core().V1().PersistentVolumeClaims().Lister(),
		volumes: f.Core().V1().PersistentVolumes().Lister(),
		classes: f.Storage().V1().StorageClasses().Lister(),
	}, client, f
}

var (
	wffc      = sc("local-path", "minik8s.io/local-path", storagev1.VolumeBindingWaitForFirstConsumer)
	static    = sc("local", storagehelpers.NotSupportedProvisioner, storagev1.VolumeBindingWaitForFirstConsumer)
	immediate = sc("fast", "example.com/fast", storagev1.VolumeBindingImmediate)
)

func TestPodVolumes(t *testing.T) {
	tests := []struct {
		name        string
		pod         *v1.Pod
		objs        []runtime.Object
		wantMsg     string
		wantBound   int
		wantDelayed int
	}{
		{"no claims", podWithClaims(), nil, "", 0, 0},
		{"missing claim", podWithClaims("x"), nil, `persistentvolumeclaim "x" not found`, 0, 0},
		{"claim being deleted", podWithClaims("x"), []runtime.Object{claim("x", "fast", func(c *v1.PersistentVolumeClaim) {
			now := metav1.Now()
			c.DeletionTimestamp = &now
		})}, `persistentvolumeclaim "x" is being deleted`, 0, 0},
		{"ephemeral volume's claim not made yet", &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: v1.PodSpec{Volumes: []v1.Volume{{Name: "scratch", VolumeSource: v1.VolumeSource{Ephemeral: &v1.EphemeralVolumeSource{}}}}}},
			nil, `waiting for ephemeral volume controller to create the persistentvolumeclaim "p-scratch"`, 0, 0},
		{"ephemeral volume's claim not the pod's", &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}, Spec: v1.PodSpec{Volumes: []v1.Volume{{Name: "scratch", VolumeSource: v1.VolumeSource{Ephemeral: &v1.EphemeralVolumeSource{}}}}}},
			[]runtime.Object{claim("p-scratch", "fast")}, "PVC ns/p-scratch was not created for pod ns/p (pod is not owner)", 0, 0},
		{"unbound Immediate claim", podWithClaims("x"), []runtime.Object{immediate, claim("x", "fast")}, MsgUnboundImmediate, 0, 0},
		{"claim of no class", podWithClaims("x"), []runtime.Object{claim("x", "")}, MsgUnboundImmediate, 0, 0},
		{"claim naming a volume, not bound yet", podWithClaims("x"), []runtime.Object{wffc, claim("x", "local-path", func(c *v1.PersistentVolumeClaim) { c.Spec.VolumeName = "v" })}, MsgUnboundImmediate, 0, 0},
		{"bound claim", podWithClaims("x"), []runtime.Object{immediate, claim("x", "fast", boundTo("v")), localPV("v", "fast", "n1")}, "", 1, 0},
		{"WaitForFirstConsumer claim", podWithClaims("x", "y"), []runtime.Object{wffc, claim("x", "local-path"), claim("y", "local-path", boundTo("v")), localPV("v", "local-path", "n1")}, "", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, _ := listersFor(t, tt.objs...)
			got, msg, err := l.podVolumes(tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			if msg != tt.wantMsg {
				t.Fatalf("got message %q, want %q", msg, tt.wantMsg)
			}
			var bound, delayed int
			if got != nil {
				bound, delayed = len(got.Bound), len(got.Delayed)
			}
			if bound != tt.wantBound || delayed != tt.wantDelayed {
				t.Errorf("got %d bound and %d delayed claims, want %d and %d", bound, delayed, tt.wantBound, tt.wantDelayed)
			}
		})
	}
}

func TestFilterVolumeBinding(t *testing.T) {
	n1, n2 := NewNodeInfo(node("n1", "4", "8Gi", 110)), NewNodeInfo(node("n2", "4", "8Gi", 110, withLabels("zone", "b")))
	delayed := func(c *v1.PersistentVolumeClaim, class *storagev1.StorageClass, vols ...*v1.PersistentVolume) *PodVolumes {
		return &PodVolumes{Delayed: []*DelayedClaim{{Claim: c, Class: class, Volumes: vols}}}
	}
	zoned := sc("zoned", "p", storagev1.VolumeBindingWaitForFirstConsumer)
	zoned.AllowedTopologies = []v1.TopologySelectorTerm{{MatchLabelExpressions: []v1.TopologySelectorLabelRequirement{{Key: "zone", Values: []string{"b"}}}}}
	tests := []struct {
		name   string
		vols   *PodVolumes
		n1, n2 string // "" fits, else the reason
	}{
		{"no claims", nil, "", ""},
		{"bound volume with affinity to n1", &PodVolumes{Bound: []*v1.PersistentVolume{localPV("v", "c", "n1")}}, "", ReasonVolumeNodeConflict},
		{"bound volume without affinity", &PodVolumes{Bound: []*v1.PersistentVolume{{}}}, "", ""},
		{"bound to a missing volume", &PodVolumes{Bound: []*v1.PersistentVolume{nil}}, ReasonVolumePVNotExist, ReasonVolumePVNotExist},
		{"provisionable anywhere", delayed(claim("x", "local-path"), wffc), "", ""},
		{"provisioning chose n1 already", delayed(claim("x", "local-path", selectedNode("n1")), wffc), "", ReasonVolumeBindConflict},
		{"allowed topologies", delayed(claim("x", "zoned"), zoned), ReasonVolumeBindConflict, ""},
		{"no provisioner, no volume", delayed(claim("x", "local"), static), ReasonVolumeBindConflict, ReasonVolumeBindConflict},
		{"no provisioner, a free volume on n2", delayed(claim("x", "local"), static, localPV("v", "local", "n2")), ReasonVolumeBindConflict, ""},
		{"two claims, one free volume", &PodVolumes{Delayed: []*DelayedClaim{
			{Claim: claim("x", "local"), Class: static, Volumes: []*v1.PersistentVolume{localPV("v", "local", "n1")}},
			{Claim: claim("y", "local"), Class: static, Volumes: []*v1.PersistentVolume{localPV("v", "local", "n1")}},
		}}, ReasonVolumeBindConflict, ReasonVolumeBindConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pi := NewPodInfo(podWithClaims())
			pi.Volumes = tt.vols
			for _, c := range []struct {
				n    *NodeInfo
				want string
			}{{n1, tt.n1}, {n2, tt.n2}} {
				got := ""
				if r := FilterVolumeBinding(pi, c.n); len(r) > 0 {
					got = r[0]
				}
				if got != c.want {
					t.Errorf("%s: got %q, want %q", c.n.Name(), got, c.want)
				}
			}
		})
	}
}

func TestBindVolumes(t *testing.T) {
	n1 := node("n1", "4", "8Gi", 110)
	t.Run("provisioned claim gets the node and the pod waits for its binding", func(t *testing.T) {
		pending := claim("x", "local-path")
		// The cache already shows the claim bound, as the binder leaves it.
		l, client, f := listersFor(t, wffc, pending)
		vols, _, _ := l.podVolumes(podWithClaims("x"))
		if err := f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(claim("x", "local-path", selectedNode("n1"), boundTo("pvc-x"))); err != nil {
			t.Fatal(err)
		}
		if err := bindVolumes(context.Background(), client, l, vols, n1, 10*time.Second); err != nil {
			t.Fatalf("got %v, want the claims bound", err)
		}
		got, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "x", metav1.GetOptions{})
		if got.Annotations[storagehelpers.AnnSelectedNode] != "n1" {
			t.Errorf("got annotations %v, want %s=n1", got.Annotations, storagehelpers.AnnSelectedNode)
		}
	})
	t.Run("a free volume on the node is bound to the claim", func(t *testing.T) {
		pending := claim("x", "local")
		l, client, f := listersFor(t, static, pending, localPV("v", "local", "n1"))
		vols, _, _ := l.podVolumes(podWithClaims("x"))
		if err := f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(claim("x", "local", boundTo("v"))); err != nil {
			t.Fatal(err)
		}
		if err := bindVolumes(context.Background(), client, l, vols, n1, 10*time.Second); err != nil {
			t.Fatalf("got %v, want the claims bound", err)
		}
		got, _ := client.CoreV1().PersistentVolumes().Get(context.Background(), "v", metav1.GetOptions{})
		if ref := got.Spec.ClaimRef; ref == nil || ref.Name != "x" || ref.UID != pending.UID || got.Annotations[storagehelpers.AnnBoundByController] != "yes" {
			t.Errorf("got claimRef %+v and annotations %v, want the claim and bound-by-controller", ref, got.Annotations)
		}
		c, _ := client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), "x", metav1.GetOptions{})
		if _, ok := c.Annotations[storagehelpers.AnnSelectedNode]; ok {
			t.Errorf("got selected-node on a claim given a free volume, want none")
		}
	})
	t.Run("claims never bound: the wait ends", func(t *testing.T) {
		l, client, _ := listersFor(t, wffc, claim("x", "local-path"))
		vols, _, _ := l.podVolumes(podWithClaims("x"))
		err := bindVolumes(context.Background(), client, l, vols, n1, 300*time.Millisecond)
		if err == nil {
			t.Fatal("got nil, want an error once the wait is over")
		}
	})
	t.Run("provisioner gave the claim back", func(t *testing.T) {
		l, client, f := listersFor(t, wffc, claim("x", "local-path", selectedNode("n1")))
		vols, _, _ := l.podVolumes(podWithClaims("x"))
		// A later version of the claim lost the node.
		if err := f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Update(claim("x", "local-path", func(c *v1.PersistentVolumeClaim) { c.ResourceVersion = "2" })); err != nil {
			t.Fatal(err)
		}
		if err := bindVolumes(context.Background(), client, l, vols, n1, time.Minute); !errors.Is(err, errSelectedNodeReset) {
			t.Errorf("got %v, want %v", err, errSelectedNodeReset)
		}
	})
}

func TestFitErrorPreFilter(t *testing.T) {
	got := (&FitError{NumAllNodes: 3, PreFilterMsg: MsgUnboundImmediate}).Error()
	if want := "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
