package statefulset

import (
	"context"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (f *fixture) claim(name string) *corev1.PersistentVolumeClaim {
	f.t.Helper()
	c, err := f.client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *fixture) claimNames() []string {
	list, _ := f.client.CoreV1().PersistentVolumeClaims("default").List(context.Background(), metav1.ListOptions{})
	var out []string
	for _, c := range list.Items {
		out = append(out, c.Name)
	}
	sort.Strings(out)
	return out
}

// owners is "Kind/name" for each owner reference, controllers marked with *.
func owners(obj metav1.Object) []string {
	var out []string
	for _, r := range obj.GetOwnerReferences() {
		s := r.Kind + "/" + r.Name
		if r.Controller != nil && *r.Controller {
			s += "*"
		}
		out = append(out, s)
	}
	return out
}

func TestClaimsCreatedBeforeTheirPodAndKept(t *testing.T) {
	f := newFixture(t, newSet(2, withClaims))
	f.sync()
	// The claim is created in the same sync, before the pod.
	var order []string
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "create" && (a.GetResource().Resource == "pods" || a.GetResource().Resource == "persistentvolumeclaims") {
			order = append(order, a.GetResource().Resource)
		}
	}
	wantStrings(t, "creations in order", order, "persistentvolumeclaims", "pods")
	c := f.claim("data-web-0")
	if c.Labels["app"] != "web" {
		t.Errorf("got claim labels %v, want the selector's app=web", c.Labels)
	}
	wantStrings(t, "claim owners under the default Retain policy", owners(c))
	p := f.pod("web-0")
	if len(p.Spec.Volumes) != 1 || p.Spec.Volumes[0].Name != "data" || p.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-0" {
		t.Errorf("got pod volumes %+v, want data on claim data-web-0", p.Spec.Volumes)
	}
	wantStrings(t, "events", f.events(),
		"Normal SuccessfulCreate create Claim data-web-0 Pod web-0 in StatefulSet web success",
		"Normal SuccessfulCreate create Pod web-0 in StatefulSet web successful")

	f.bringUp(2)
	wantStrings(t, "claims", f.claimNames(), "data-web-0", "data-web-1")
	// Scaling down and deleting a pod leaves every claim in place; the
	// re-created pod gets its old claim back.
	f.updateSet(func(s *appsv1.StatefulSet) { *s.Spec.Replicas = 1 })
	f.sync()
	wantStrings(t, "pods after scale-down", f.podNames(), "web-0")
	f.removePod("web-0")
	f.sync()
	wantStrings(t, "claims created again", f.actions("create", "persistentvolumeclaims"))
	wantStrings(t, "claims", f.claimNames(), "data-web-0", "data-web-1")
	if got := f.pod("web-0").Spec.Volumes[0].PersistentVolumeClaim.ClaimName; got != "data-web-0" {
		t.Errorf("re-created web-0 uses claim %s, want data-web-0", got)
	}
}

func TestRetentionPolicyOwnerRefs(t *testing.T) {
	const r, d = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	tests := []struct {
		scaled, deleted      appsv1.PersistentVolumeClaimRetentionPolicyType
		wantKept, wantScaled []string // owners of data-web-0 and of data-web-1 after a scale to 1
	}{
		{r, r, nil, nil},
		{r, d, []string{"StatefulSet/web*"}, []string{"StatefulSet/web*"}},
		{d, r, nil, []string{"Pod/web-1*"}},
		{d, d, []string{"StatefulSet/web*"}, []string{"Pod/web-1*"}},
	}
	for _, tt := range tests {
		t.Run("whenScaled="+string(tt.scaled)+",whenDeleted="+string(tt.deleted), func(t *testing.T) {
			f := newFixture(t, newSet(2, withClaims, retention(tt.scaled, tt.deleted)))
			f.bringUp(2)
			wantStrings(t, "owners of data-web-1 in range", owners(f.claim("data-web-1")), tt.wantKept...)
			f.gracefulDeletes()
			f.updateSet(func(s *appsv1.StatefulSet) { *s.Spec.Replicas = 1 })
			f.sync()
			wantStrings(t, "deleted", f.actions("delete", "pods"), "web-1")
			wantStrings(t, "owners of data-web-0", owners(f.claim("data-web-0")), tt.wantKept...)
			wantStrings(t, "owners of data-web-1 scaled away", owners(f.claim("data-web-1")), tt.wantScaled...)
			if len(tt.wantScaled) > 0 && tt.wantScaled[0] == "Pod/web-1*" {
				if got := f.claim("data-web-1").OwnerReferences[0].UID; got != f.pod("web-1").UID {
					t.Errorf("got claim owner UID %s, want web-1's %s", got, f.pod("web-1").UID)
				}
			}
		})
	}
}

func TestRetentionPolicyChangeRewritesOwners(t *testing.T) {
	f := newFixture(t, newSet(1, withClaims))
	f.bringUp(1)
	f.updateSet(retention(appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType))
	f.sync()
	wantStrings(t, "owners after whenDeleted=Delete", owners(f.claim("data-web-0")), "StatefulSet/web*")
	f.updateSet(retention(appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType))
	f.sync()
	wantStrings(t, "owners after back to Retain", owners(f.claim("data-web-0")))
}

func TestStaleClaimBlocksPodCreation(t *testing.T) {
	// Under whenScaled=Delete a claim still owned by a previous web-1 (its
	// garbage collection pending) must not be reused.
	set := newSet(2, withClaims, retention(appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType))
	stale := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-web-1", Namespace: "default",
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web-1", UID: "old-web-1"}}}}
	f := newFixture(t, set, stale)
	f.bringUp(1)
	f.sync()
	wantStrings(t, "pods while data-web-1 is stale", f.podNames(), "web-0")
}
