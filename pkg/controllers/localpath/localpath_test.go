package localpath

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

const root = "/srv/storage"

type harness struct {
	client   *fake.Clientset
	c        *Controller
	recorder *record.FakeRecorder
}

func newHarness(t *testing.T, objs ...runtime.Object) *harness {
	t.Helper()
	client := fake.NewClientset(objs...)
	f := informers.NewSharedInformerFactory(client, 0)
	rec := record.NewFakeRecorder(100)
	c := New(client, f, rec, Config{Root: root, HelperImage: "minik8s/toolbox:latest"})
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.PersistentVolume:
			err = f.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &harness{client: client, c: c, recorder: rec}
}

func (h *harness) events() []string {
	var out []string
	for {
		select {
		case e := <-h.recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func node(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}}}
}

func claim(mods ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	className := ClassName
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data", UID: "1234", Annotations: map[string]string{
			storagehelpers.AnnStorageProvisioner: Provisioner,
			storagehelpers.AnnSelectedNode:       "node-2",
		}},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
			StorageClassName: &className,
		},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func TestProvision(t *testing.T) {
	other := Class()
	other.Name, other.Provisioner = "other", "example.com/other"
	tests := []struct {
		name      string
		claim     *corev1.PersistentVolumeClaim
		objs      []runtime.Object
		wantPV    bool
		wantEvent string
		wantErr   bool
	}{
		{"provisions on the selected node", claim(), []runtime.Object{Class(), node("node-2")}, true, "Normal ProvisioningSucceeded Successfully provisioned volume pvc-1234", false},
		{"not handed to us yet", claim(func(c *corev1.PersistentVolumeClaim) { delete(c.Annotations, storagehelpers.AnnStorageProvisioner) }), []runtime.Object{Class(), node("node-2")}, false, "", false},
		{"another provisioner's class", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.StorageClassName = &other.Name }), []runtime.Object{other, node("node-2")}, false, "", false},
		{"already bound", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "v" }), []runtime.Object{Class(), node("node-2")}, false, "", false},
		{"no selected node", claim(func(c *corev1.PersistentVolumeClaim) { delete(c.Annotations, storagehelpers.AnnSelectedNode) }), []runtime.Object{Class(), node("node-2")},
			false, `Warning ProvisioningFailed failed to provision volume with StorageClass "local-path": configuration error, no node was specified`, false},
		{"selector", claim(func(c *corev1.PersistentVolumeClaim) { c.Spec.Selector = &metav1.LabelSelector{} }), []runtime.Object{Class(), node("node-2")},
			false, `Warning ProvisioningFailed failed to provision volume with StorageClass "local-path": claim.Spec.Selector is not supported`, false},
		{"selected node missing: retried", claim(), []runtime.Object{Class()}, false, `Warning ProvisioningFailed failed to provision volume with StorageClass "local-path": node "node-2" not found`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, append([]runtime.Object{tt.claim}, tt.objs...)...)
			if _, err := h.c.sync(context.Background(), claimPrefix+"ns/data"); (err != nil) != tt.wantErr {
				t.Fatalf("got sync error %v, want one: %v", err, tt.wantErr)
			}
			pv, err := h.client.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-1234", metav1.GetOptions{})
			if (err == nil) != tt.wantPV {
				t.Fatalf("got volume error %v, want a volume: %v", err, tt.wantPV)
			}
			events := h.events()
			if tt.wantEvent != "" && (len(events) == 0 || events[len(events)-1] != tt.wantEvent) {
				t.Errorf("got events %q, want the last %q", events, tt.wantEvent)
			}
			if !tt.wantPV {
				return
			}
			if got, want := pv.Spec.HostPath.Path, root+"/node-2/pvc-1234_ns_data"; got != want {
				t.Errorf("got path %q, want %q", got, want)
			}
			if got := *pv.Spec.HostPath.Type; got != corev1.HostPathDirectoryOrCreate {
				t.Errorf("got hostPath type %q, want DirectoryOrCreate", got)
			}
			if got := pv.Annotations[storagehelpers.AnnDynamicallyProvisioned]; got != Provisioner {
				t.Errorf("got provisioned-by %q, want %q", got, Provisioner)
			}
			if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != "1234" || ref.Name != "data" || ref.Namespace != "ns" {
				t.Errorf("got claimRef %+v, want ns/data 1234", ref)
			}
			if q := pv.Spec.Capacity[corev1.ResourceStorage]; q.String() != "2Gi" {
				t.Errorf("got capacity %s, want 2Gi", q.String())
			}
			if pv.Spec.StorageClassName != ClassName || pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
				t.Errorf("got class %q policy %q, want %q Delete", pv.Spec.StorageClassName, pv.Spec.PersistentVolumeReclaimPolicy, ClassName)
			}
			if err := storagehelpers.CheckNodeAffinity(pv, node("node-2").Labels); err != nil {
				t.Errorf("node-2 does not match the volume's affinity: %v", err)
			}
			if err := storagehelpers.CheckNodeAffinity(pv, node("node-1").Labels); err == nil {
				t.Error("node-1 matches the volume's affinity, want only node-2")
			}
		})
	}
}

func TestEnsureClass(t *testing.T) {
	t.Run("created when missing", func(t *testing.T) {
		h := newHarness(t)
		if err := h.c.EnsureClass(context.Background()); err != nil {
			t.Fatal(err)
		}
		sc, err := h.client.StorageV1().StorageClasses().Get(context.Background(), ClassName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer ||
			*sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete || sc.Provisioner != Provisioner {
			t.Errorf("got class %+v, want default, WaitForFirstConsumer, Delete, %s", sc, Provisioner)
		}
	})
	t.Run("an existing one is left alone", func(t *testing.T) {
		mine := Class()
		mine.Annotations = nil
		h := newHarness(t, mine)
		if err := h.c.EnsureClass(context.Background()); err != nil {
			t.Fatal(err)
		}
		sc, _ := h.client.StorageV1().StorageClasses().Get(context.Background(), ClassName, metav1.GetOptions{})
		if sc.Annotations != nil {
			t.Errorf("got annotations %v, want the administrator's none", sc.Annotations)
		}
	})
}

func released(mods ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	c := &Controller{cfg: Config{Root: root}}
	pv, err := c.volumeFor(claim(), Class(), node("node-2"))
	if err != nil {
		panic(err)
	}
	pv.UID = "pv-uid"
	pv.Status.Phase = corev1.VolumeReleased
	for _, m := range mods {
		m(pv)
	}
	return pv
}

var testNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func helper(phase corev1.PodPhase) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: HelperNamespace, Name: HelperPodName("pvc-1234"), UID: "pod-uid", Labels: map[string]string{LabelVolume: "pvc-1234"},
			CreationTimestamp: metav1.NewTime(testNow.Add(-time.Minute))},
		Status: corev1.PodStatus{Phase: phase},
	}
}

func TestDelete(t *testing.T) {
	tests := []struct {
		name       string
		objs       []runtime.Object
		wantHelper bool // a helper pod exists after the sync
		wantPV     bool // the volume exists after the sync
		wantErr    bool
		wantEvent  string
	}{
		{"released: helper pod created", []runtime.Object{released(), node("node-2")}, true, true, false, ""},
		{"helper running: wait", []runtime.Object{released(), node("node-2"), helper(corev1.PodRunning)}, true, true, false, ""},
		{"helper pending too long: pod deleted, retried", []runtime.Object{released(), node("node-2"), func() *corev1.Pod {
			p := helper(corev1.PodPending)
			p.CreationTimestamp = metav1.NewTime(testNow.Add(-HelperTimeout))
			return p
		}()}, false, true, true, "Warning VolumeFailedDelete helper pod kube-system/helper-pod-delete-pvc-1234 did not finish within 2m0s"},
		{"helper succeeded: volume and pod deleted", []runtime.Object{released(), node("node-2"), helper(corev1.PodSucceeded)}, false, false, false, ""},
		{"helper failed: pod deleted, retried", []runtime.Object{released(), node("node-2"), helper(corev1.PodFailed)}, false, true, true, "Warning VolumeFailedDelete"},
		{"bound: nothing", []runtime.Object{released(func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeBound }), node("node-2")}, false, true, false, ""},
		{"Retain: nothing", []runtime.Object{released(func(v *corev1.PersistentVolume) {
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
		}), node("node-2")}, false, true, false, ""},
		{"not ours: nothing", []runtime.Object{released(func(v *corev1.PersistentVolume) { v.Annotations = nil }), node("node-2")}, false, true, false, ""},
		{"path outside the root is not removed", []runtime.Object{released(func(v *corev1.PersistentVolume) { v.Spec.HostPath.Path = "/etc" }), node("node-2")}, false, true, false,
			`Warning VolumeFailedDelete volume pvc-1234: path "/etc" is not under the local-path root "/srv/storage"; not removing it`},
		{"volume gone: finished helper deleted", []runtime.Object{helper(corev1.PodSucceeded)}, false, false, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.objs...)
			h.c.now = func() time.Time { return testNow }
			res, err := h.c.sync(context.Background(), volumePrefix+"pvc-1234")
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want one: %v", err, tt.wantErr)
			}
			// A running helper (a minute old) is checked on again when
			// its time is up.
			if want := map[bool]time.Duration{true: HelperTimeout - time.Minute}[tt.name == "helper running: wait"]; res.RequeueAfter != want {
				t.Errorf("got a sync again after %s, want %s", res.RequeueAfter, want)
			}
			pod, err := h.client.CoreV1().Pods(HelperNamespace).Get(context.Background(), HelperPodName("pvc-1234"), metav1.GetOptions{})
			if (err == nil) != tt.wantHelper {
				t.Errorf("got helper pod error %v, want a pod: %v", err, tt.wantHelper)
			}
			_, err = h.client.CoreV1().PersistentVolumes().Get(context.Background(), "pvc-1234", metav1.GetOptions{})
			if gotPV := !apierrors.IsNotFound(err); gotPV != tt.wantPV {
				t.Errorf("got volume: %v, want %v", gotPV, tt.wantPV)
			}
			events := h.events()
			if tt.wantEvent != "" && (len(events) == 0 || !strings.HasPrefix(events[0], tt.wantEvent)) {
				t.Errorf("got events %q, want one starting %q", events, tt.wantEvent)
			}
			if tt.name != "released: helper pod created" {
				return
			}
			c := pod.Spec.Containers[0]
			if pod.Spec.NodeName != "node-2" || c.Image != "minik8s/toolbox:latest" || c.Env[0].Value != root+"/node-2/pvc-1234_ns_data" ||
				pod.Spec.Volumes[0].HostPath.Path != root+"/node-2" || c.VolumeMounts[0].MountPath != root+"/node-2" ||
				pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("got helper pod %+v, want one on node-2 removing the volume's directory", pod.Spec)
			}
		})
	}
}
