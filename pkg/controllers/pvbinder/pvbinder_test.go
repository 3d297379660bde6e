package pvbinder

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"
	storagehelpers "k8s.io/component-helpers/storage/volume"
)

func pv(name, size, class string, mods ...func(*corev1.PersistentVolume)) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName:              class,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data/" + name}},
		},
		Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
	}
	for _, m := range mods {
		m(v)
	}
	return v
}

func pvc(name, size string, class *string, mods ...func(*corev1.PersistentVolumeClaim)) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
			StorageClassName: class,
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

func class(name, provisioner string, mode storagev1.VolumeBindingMode, isDefault bool, created time.Time) *storagev1.StorageClass {
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Provisioner:       provisioner,
		VolumeBindingMode: &mode,
	}
	if isDefault {
		sc.Annotations = map[string]string{AnnDefaultClass: "true"}
	}
	return sc
}

func str(s string) *string { return &s }

func podUsing(name, claim, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.PodSpec{NodeName: node, Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
		}}}},
	}
}

func claimRef(c *corev1.PersistentVolumeClaim, withUID bool) func(*corev1.PersistentVolume) {
	return func(v *corev1.PersistentVolume) {
		v.Spec.ClaimRef = &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name}
		if withUID {
			v.Spec.ClaimRef.UID = c.UID
		}
	}
}

func annotate(kv ...string) func(metav1.Object) {
	return func(o metav1.Object) {
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		for i := 0; i < len(kv); i += 2 {
			a[kv[i]] = kv[i+1]
		}
		o.SetAnnotations(a)
	}
}

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
	c := New(client, f, rec)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.PersistentVolume:
			err = f.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolumeClaim:
			err = f.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = f.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
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

func (h *harness) getPV(t *testing.T, name string) *corev1.PersistentVolume {
	t.Helper()
	v, err := h.client.CoreV1().PersistentVolumes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting volume %s: %v", name, err)
	}
	return v
}

func (h *harness) getPVC(t *testing.T, name string) *corev1.PersistentVolumeClaim {
	t.Helper()
	c, err := h.client.CoreV1().PersistentVolumeClaims("ns").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("getting claim %s: %v", name, err)
	}
	return c
}

func TestFindBestMatch(t *testing.T) {
	claim := pvc("data", "5Gi", str("fast"))
	rwx := func(v *corev1.PersistentVolume) {
		v.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteMany}
	}
	labeled := func(v *corev1.PersistentVolume) { v.Labels = map[string]string{"tier": "gold"} }
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		pvs   []*corev1.PersistentVolume
		delay bool
		want  string
	}{
		{"smallest that fits", claim, []*corev1.PersistentVolume{pv("big", "20Gi", "fast"), pv("small", "1Gi", "fast"), pv("fit", "10Gi", "fast")}, false, "fit"},
		{"exact size fits", claim, []*corev1.PersistentVolume{pv("exact", "5Gi", "fast")}, false, "exact"},
		{"other class does not", claim, []*corev1.PersistentVolume{pv("slow", "10Gi", "slow")}, false, ""},
		{"no class matches only classless volumes", pvc("data", "1Gi", nil), []*corev1.PersistentVolume{pv("fast", "10Gi", "fast"), pv("plain", "10Gi", "")}, false, "plain"},
		{"empty class matches only classless volumes", pvc("data", "1Gi", str("")), []*corev1.PersistentVolume{pv("fast", "10Gi", "fast"), pv("plain", "10Gi", "")}, false, "plain"},
		{"fewest access modes first, even if larger", claim, []*corev1.PersistentVolume{pv("rwx", "5Gi", "fast", rwx), pv("rwo", "50Gi", "fast")}, false, "rwo"},
		{"missing access mode does not fit", pvc("data", "1Gi", str("fast"), func(c *corev1.PersistentVolumeClaim) {
			c.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}
		}), []*corev1.PersistentVolume{pv("rwo", "5Gi", "fast"), pv("rwx", "5Gi", "fast", rwx)}, false, "rwx"},
		{"selector", pvc("data", "1Gi", str("fast"), func(c *corev1.PersistentVolumeClaim) {
			c.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}
		}), []*corev1.PersistentVolume{pv("plain", "1Gi", "fast"), pv("gold", "9Gi", "fast", labeled)}, false, "gold"},
		{"volume claimed by another claim", claim, []*corev1.PersistentVolume{pv("taken", "10Gi", "fast", claimRef(pvc("other", "1Gi", nil), true))}, false, ""},
		{"pre-bound volume wins over a smaller one", claim, []*corev1.PersistentVolume{pv("small", "5Gi", "fast"), pv("mine", "100Gi", "fast", claimRef(claim, false))}, false, "mine"},
		{"released volume is not available", claim, []*corev1.PersistentVolume{pv("released", "10Gi", "fast", func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeReleased })}, false, ""},
		{"delayed binding leaves free volumes to the scheduler", claim, []*corev1.PersistentVolume{pv("fit", "10Gi", "fast")}, true, ""},
		{"delayed binding still takes a pre-bound volume", claim, []*corev1.PersistentVolume{pv("mine", "10Gi", "fast", claimRef(claim, true))}, true, "mine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FindBestMatch(tt.claim, tt.pvs, tt.delay)
			if err != nil {
				t.Fatal(err)
			}
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("got volume %q, want %q", name, tt.want)
			}
		})
	}
}

func TestDefaultClass(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		classes []*storagev1.StorageClass
		want    string
	}{
		{"none", []*storagev1.StorageClass{class("a", "p", storagev1.VolumeBindingImmediate, false, t0)}, ""},
		{"the annotated one", []*storagev1.StorageClass{class("a", "p", storagev1.VolumeBindingImmediate, false, t0), class("b", "p", storagev1.VolumeBindingImmediate, true, t0)}, "b"},
		{"newest of several", []*storagev1.StorageClass{class("old", "p", storagev1.VolumeBindingImmediate, true, t0), class("new", "p", storagev1.VolumeBindingImmediate, true, t0.Add(time.Hour))}, "new"},
		{"same age: by name", []*storagev1.StorageClass{class("z", "p", storagev1.VolumeBindingImmediate, true, t0), class("m", "p", storagev1.VolumeBindingImmediate, true, t0)}, "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if sc := DefaultClass(tt.classes); sc != nil {
				got = sc.Name
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSyncClaim(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	local := class("local-path", "minik8s.io/local-path", storagev1.VolumeBindingWaitForFirstConsumer, true, t0)
	immediate := class("fast", "example.com/fast", storagev1.VolumeBindingImmediate, false, t0)
	bound := func(vol string) func(*corev1.PersistentVolumeClaim) {
		return func(c *corev1.PersistentVolumeClaim) {
			c.Spec.VolumeName = vol
			annotate(storagehelpers.AnnBindCompleted, "yes")(c)
			c.Status.Phase = corev1.ClaimBound
		}
	}
	tests := []struct {
		name  string
		claim *corev1.PersistentVolumeClaim
		objs  []runtime.Object
		// wantVolume is the volume the claim ends bound to ("" none).
		wantVolume string
		wantPhase  corev1.PersistentVolumeClaimPhase
		wantClass  string
		wantAnn    map[string]string
		wantEvent  string
	}{
		{
			name:       "binds the smallest fitting volume",
			claim:      pvc("data", "1Gi", str("")),
			objs:       []runtime.Object{pv("big", "10Gi", ""), pv("small", "2Gi", "")},
			wantVolume: "small", wantPhase: corev1.ClaimBound,
			wantAnn: map[string]string{storagehelpers.AnnBindCompleted: "yes", storagehelpers.AnnBoundByController: "yes"},
		},
		{
			name:      "no class, no volume: FailedBinding",
			claim:     pvc("data", "1Gi", str("")),
			wantPhase: corev1.ClaimPending,
			wantEvent: "Normal FailedBinding no persistent volumes available for this claim and no storage class is set",
		},
		{
			name:      "unset class gets the default class",
			claim:     pvc("data", "1Gi", nil),
			objs:      []runtime.Object{local, immediate},
			wantPhase: corev1.ClaimPending, wantClass: "local-path",
		},
		{
			name:       "unset class binds a classless volume before taking the default",
			claim:      pvc("data", "1Gi", nil),
			objs:       []runtime.Object{local, pv("plain", "1Gi", "")},
			wantVolume: "plain", wantPhase: corev1.ClaimBound,
		},
		{
			name:      "WaitForFirstConsumer without a selected node waits",
			claim:     pvc("data", "1Gi", str("local-path")),
			objs:      []runtime.Object{local, pv("free", "5Gi", "local-path")},
			wantPhase: corev1.ClaimPending, wantClass: "local-path",
			wantEvent: "Normal WaitForFirstConsumer waiting for first consumer to be created before binding",
		},
		{
			name:      "WaitForFirstConsumer with an unscheduled pod waits for it",
			claim:     pvc("data", "1Gi", str("local-path")),
			objs:      []runtime.Object{local, podUsing("web", "data", ""), podUsing("elsewhere", "data", "node-1"), podUsing("other", "logs", "")},
			wantPhase: corev1.ClaimPending, wantClass: "local-path",
			wantEvent: "Normal WaitForPodScheduled waiting for pod web to be scheduled",
		},
		{
			name:      "WaitForFirstConsumer with unscheduled pods waits for them",
			claim:     pvc("data", "1Gi", str("local-path")),
			objs:      []runtime.Object{local, podUsing("b", "data", ""), podUsing("a", "data", "")},
			wantPhase: corev1.ClaimPending, wantClass: "local-path",
			wantEvent: "Normal WaitForPodScheduled waiting for pods a,b to be scheduled",
		},
		{
			name: "WaitForFirstConsumer with a selected node goes to the provisioner",
			claim: pvc("data", "1Gi", str("local-path"), func(c *corev1.PersistentVolumeClaim) {
				annotate(storagehelpers.AnnSelectedNode, "node-1")(c)
			}),
			objs:      []runtime.Object{local},
			wantPhase: corev1.ClaimPending, wantClass: "local-path",
			wantAnn:   map[string]string{storagehelpers.AnnStorageProvisioner: "minik8s.io/local-path", storagehelpers.AnnBetaStorageProvisioner: "minik8s.io/local-path"},
			wantEvent: "Normal ExternalProvisioning Waiting for a volume to be created either by the external provisioner 'minik8s.io/local-path' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered.",
		},
		{
			name:      "Immediate class goes to the provisioner at once",
			claim:     pvc("data", "1Gi", str("fast")),
			objs:      []runtime.Object{immediate},
			wantPhase: corev1.ClaimPending, wantClass: "fast",
			wantAnn:   map[string]string{storagehelpers.AnnStorageProvisioner: "example.com/fast"},
			wantEvent: "Normal ExternalProvisioning",
		},
		{
			name:      "missing class: ProvisioningFailed",
			claim:     pvc("data", "1Gi", str("gone")),
			wantPhase: corev1.ClaimPending, wantClass: "gone",
			wantEvent: `Warning ProvisioningFailed storageclass.storage.k8s.io "gone" not found`,
		},
		{
			name: "provisioned volume pre-bound to the claim is bound, even with delayed binding",
			claim: pvc("data", "1Gi", str("local-path"), func(c *corev1.PersistentVolumeClaim) {
				annotate(storagehelpers.AnnSelectedNode, "node-1")(c)
			}),
			objs:       []runtime.Object{local, pv("pvc-uid-data", "1Gi", "local-path", claimRef(pvc("data", "1Gi", nil), true))},
			wantVolume: "pvc-uid-data", wantPhase: corev1.ClaimBound, wantClass: "local-path",
		},
		{
			name:       "volumeName binds that volume",
			claim:      pvc("data", "1Gi", str(""), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "chosen" }),
			objs:       []runtime.Object{pv("small", "1Gi", ""), pv("chosen", "10Gi", "")},
			wantVolume: "chosen", wantPhase: corev1.ClaimBound,
			wantAnn: map[string]string{storagehelpers.AnnBindCompleted: "yes"},
		},
		{
			name:       "volumeName of a missing volume: Pending",
			claim:      pvc("data", "1Gi", str(""), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "later" }),
			wantVolume: "later", wantPhase: corev1.ClaimPending,
		},
		{
			name:       "volumeName of a too small volume: VolumeMismatch",
			claim:      pvc("data", "5Gi", str(""), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "tiny" }),
			objs:       []runtime.Object{pv("tiny", "1Gi", "")},
			wantVolume: "tiny", wantPhase: corev1.ClaimPending,
			wantEvent: `Warning VolumeMismatch Cannot bind to requested volume "tiny": requested PV is too small`,
		},
		{
			name:       "volumeName of a volume claimed by another: Pending",
			claim:      pvc("data", "1Gi", str(""), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "theirs" }),
			objs:       []runtime.Object{pv("theirs", "1Gi", "", claimRef(pvc("other", "1Gi", nil), true))},
			wantVolume: "theirs", wantPhase: corev1.ClaimPending,
		},
		{
			name:      "volume pre-bound by claimRef goes to that claim only",
			claim:     pvc("data", "1Gi", str("")),
			objs:      []runtime.Object{pv("reserved", "1Gi", "", claimRef(pvc("other", "1Gi", nil), false))},
			wantPhase: corev1.ClaimPending,
			wantEvent: "Normal FailedBinding",
		},
		{
			name:       "bound claim whose volume is gone is Lost",
			claim:      pvc("data", "1Gi", str(""), bound("gone")),
			wantVolume: "gone", wantPhase: corev1.ClaimLost,
			wantEvent: "Warning ClaimLost Bound claim has lost its PersistentVolume. Data on the volume is lost!",
		},
		{
			name:       "bound claim whose volume has another claimant is Lost",
			claim:      pvc("data", "1Gi", str(""), bound("theirs")),
			objs:       []runtime.Object{pv("theirs", "1Gi", "", claimRef(pvc("other", "1Gi", nil), true))},
			wantVolume: "theirs", wantPhase: corev1.ClaimLost,
			wantEvent: "Warning ClaimMisbound Two claims are bound to the same volume, this one is bound incorrectly",
		},
		{
			name:       "bound claim whose volume lost its claimRef binds it again",
			claim:      pvc("data", "1Gi", str(""), bound("mine")),
			objs:       []runtime.Object{pv("mine", "1Gi", "")},
			wantVolume: "mine", wantPhase: corev1.ClaimBound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, append([]runtime.Object{tt.claim}, tt.objs...)...)
			if err := h.c.sync(context.Background(), claimPrefix+"ns/"+tt.claim.Name); err != nil {
				t.Fatalf("sync: %v", err)
			}
			got := h.getPVC(t, tt.claim.Name)
			if got.Spec.VolumeName != tt.wantVolume {
				t.Errorf("got volumeName %q, want %q", got.Spec.VolumeName, tt.wantVolume)
			}
			if got.Status.Phase != tt.wantPhase {
				t.Errorf("got phase %q, want %q", got.Status.Phase, tt.wantPhase)
			}
			if tt.wantClass != "" && storagehelpers.GetPersistentVolumeClaimClass(got) != tt.wantClass {
				t.Errorf("got class %q, want %q", storagehelpers.GetPersistentVolumeClaimClass(got), tt.wantClass)
			}
			for k, v := range tt.wantAnn {
				if got.Annotations[k] != v {
					t.Errorf("got annotation %s=%q, want %q", k, got.Annotations[k], v)
				}
			}
			events := h.events()
			if tt.wantEvent != "" && (len(events) == 0 || !strings.HasPrefix(events[0], tt.wantEvent)) {
				t.Errorf("got events %q, want one starting %q", events, tt.wantEvent)
			}
			if tt.wantEvent == "" && len(events) > 0 {
				t.Errorf("got events %q, want none", events)
			}
			if tt.wantPhase != corev1.ClaimBound {
				return
			}
			vol := h.getPV(t, tt.wantVolume)
			if vol.Spec.ClaimRef == nil || vol.Spec.ClaimRef.UID != tt.claim.UID || vol.Spec.ClaimRef.Name != tt.claim.Name {
				t.Errorf("got volume claimRef %+v, want the claim %s", vol.Spec.ClaimRef, tt.claim.UID)
			}
			if vol.Status.Phase != corev1.VolumeBound {
				t.Errorf("got volume phase %q, want Bound", vol.Status.Phase)
			}
			wantCap := vol.Spec.Capacity[corev1.ResourceStorage]
			if q := got.Status.Capacity[corev1.ResourceStorage]; q.Cmp(wantCap) != 0 {
				t.Errorf("got claim capacity %s, want the volume's %s", q.String(), wantCap.String())
			}
			if len(got.Status.AccessModes) != len(vol.Spec.AccessModes) {
				t.Errorf("got claim access modes %v, want the volume's %v", got.Status.AccessModes, vol.Spec.AccessModes)
			}
		})
	}
}

func TestSyncVolume(t *testing.T) {
	claim := pvc("data", "1Gi", str(""), func(c *corev1.PersistentVolumeClaim) {
		c.Spec.VolumeName = "vol"
		annotate(storagehelpers.AnnBindCompleted, "yes")(c)
	})
	otherClaim := pvc("data", "1Gi", str(""), func(c *corev1.PersistentVolumeClaim) { c.Spec.VolumeName = "elsewhere" })
	tests := []struct {
		name      string
		pv        *corev1.PersistentVolume
		objs      []runtime.Object
		wantPhase corev1.PersistentVolumePhase
		wantRef   bool
		wantEvent string
	}{
		{"free volume becomes Available", pv("vol", "1Gi", "", func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumePending }), nil, corev1.VolumeAvailable, false, ""},
		{"reserved volume stays Available", pv("vol", "1Gi", "", claimRef(claim, false)), nil, corev1.VolumeAvailable, true, ""},
		{"bound to its claim: Bound", pv("vol", "1Gi", "", claimRef(claim, true)), []runtime.Object{claim}, corev1.VolumeBound, true, ""},
		{"claim gone, Retain: Released", pv("vol", "1Gi", "", claimRef(claim, true), func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeBound }), nil, corev1.VolumeReleased, true, ""},
		{"claim gone, Delete: Released for the provisioner", pv("vol", "1Gi", "", claimRef(claim, true), func(v *corev1.PersistentVolume) {
			v.Status.Phase = corev1.VolumeBound
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
		}), nil, corev1.VolumeReleased, true, ""},
		{"claim gone, Recycle: Failed", pv("vol", "1Gi", "", claimRef(claim, true), func(v *corev1.PersistentVolume) {
			v.Status.Phase = corev1.VolumeBound
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRecycle
		}), nil, corev1.VolumeFailed, true, "Warning VolumeFailedRecycle"},
		{"claim replaced by one of the same name: Released", pv("vol", "1Gi", "", claimRef(pvc("data", "1Gi", nil, func(c *corev1.PersistentVolumeClaim) { c.UID = "old" }), true), func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeBound }), []runtime.Object{claim}, corev1.VolumeReleased, true, ""},
		{"bound by us to a claim that took another volume: freed", pv("vol", "1Gi", "", claimRef(otherClaim, true), func(v *corev1.PersistentVolume) {
			v.Status.Phase = corev1.VolumeBound
			annotate(storagehelpers.AnnBoundByController, "yes")(v)
		}), []runtime.Object{otherClaim}, corev1.VolumeAvailable, false, ""},
		{"pre-bound by the user to a claim bound elsewhere: left alone", pv("vol", "1Gi", "", claimRef(otherClaim, true), func(v *corev1.PersistentVolume) { v.Status.Phase = corev1.VolumeBound }), []runtime.Object{otherClaim}, corev1.VolumeBound, true, ""},
		{"provisioned for a claim bound elsewhere: Released", pv("vol", "1Gi", "", claimRef(otherClaim, true), func(v *corev1.PersistentVolume) {
			v.Status.Phase = corev1.VolumeBound
			v.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
			annotate(storagehelpers.AnnDynamicallyProvisioned, "p")(v)
		}), []runtime.Object{otherClaim}, corev1.VolumeReleased, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, append([]runtime.Object{tt.pv}, tt.objs...)...)
			if err := h.c.sync(context.Background(), volumePrefix+tt.pv.Name); err != nil {
				t.Fatalf("sync: %v", err)
			}
			got := h.getPV(t, tt.pv.Name)
			if got.Status.Phase != tt.wantPhase {
				t.Errorf("got phase %q, want %q", got.Status.Phase, tt.wantPhase)
			}
			if (got.Spec.ClaimRef != nil) != tt.wantRef {
				t.Errorf("got claimRef %+v, want one: %v", got.Spec.ClaimRef, tt.wantRef)
			}
			events := h.events()
			if tt.wantEvent != "" && (len(events) == 0 || !strings.HasPrefix(events[0], tt.wantEvent)) {
				t.Errorf("got events %q, want one starting %q", events, tt.wantEvent)
			}
		})
	}
}
