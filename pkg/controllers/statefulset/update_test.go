package statefulset

import (
	"context"
	"encoding/json"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func (f *fixture) revisions() []*appsv1.ControllerRevision {
	f.t.Helper()
	list, err := f.client.AppsV1().ControllerRevisions("default").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*appsv1.ControllerRevision
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sortRevisions(out)
	return out
}

// images maps each pod to its image.
func (f *fixture) images() map[string]string {
	out := map[string]string{}
	for _, n := range f.podNames() {
		out[n] = f.pod(n).Spec.Containers[0].Image
	}
	return out
}

// rollOne syncs once and returns the pods that sync deleted, then syncs and
// readies pods until all replicas are back and Ready.
func (f *fixture) rollOne() []string {
	f.t.Helper()
	f.sync()
	deleted := f.actions("delete", "pods")
	sort.Strings(deleted)
	n := int(*f.set().Spec.Replicas)
	for i := 0; i < 2*n+2; i++ {
		names := f.podNames()
		for _, name := range names {
			if !podReady(f.pod(name)) {
				f.ready(name)
			}
		}
		if len(names) == n {
			return deleted
		}
		f.sync()
		if more := f.actions("delete", "pods"); len(more) > 0 {
			f.t.Fatalf("deleted %v while re-creating %v", more, deleted)
		}
	}
	f.t.Fatalf("pods %v did not come back", f.podNames())
	return nil
}

func TestRollingUpdate(t *testing.T) {
	tests := []struct {
		name      string
		opts      []setOpt
		steps     [][]string
		wantImage map[string]string
	}{
		{"highest ordinal first", nil,
			[][]string{{"web-2"}, {"web-1"}, {"web-0"}, nil},
			map[string]string{"web-0": "img:2", "web-1": "img:2", "web-2": "img:2"}},
		{"partition 2 keeps web-0 and web-1", []setOpt{func(s *appsv1.StatefulSet) { *s.Spec.UpdateStrategy.RollingUpdate.Partition = 2 }},
			[][]string{{"web-2"}, nil},
			map[string]string{"web-0": "img:1", "web-1": "img:1", "web-2": "img:2"}},
		{"maxUnavailable 2", []setOpt{func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(intstr.FromInt32(2))
		}},
			[][]string{{"web-1", "web-2"}, {"web-0"}, nil},
			map[string]string{"web-0": "img:2", "web-1": "img:2", "web-2": "img:2"}},
		{"OnDelete leaves pods alone", []setOpt{func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}},
			[][]string{nil},
			map[string]string{"web-0": "img:1", "web-1": "img:1", "web-2": "img:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, newSet(3, tt.opts...))
			f.bringUp(3)
			first := f.set().Status.CurrentRevision
			f.updateSet(image("img:2"))
			for i, want := range tt.steps {
				wantStrings(t, "step "+string(rune('0'+i))+" deleted", f.rollOne(), want...)
			}
			for pod, img := range tt.wantImage {
				if got := f.images()[pod]; got != img {
					t.Errorf("%s runs %s, want %s", pod, got, img)
				}
			}
			st := f.set().Status
			if st.UpdateRevision == first {
				t.Errorf("update revision still %s after a template change", first)
			}
			var updated int32
			for _, img := range tt.wantImage {
				if img == "img:2" {
					updated++
				}
			}
			if st.UpdatedReplicas != updated || st.Replicas != 3 {
				t.Errorf("got status %+v, want %d updated of 3", st, updated)
			}
			if updated == 3 && (st.CurrentRevision != st.UpdateRevision || st.CurrentReplicas != 3) {
				t.Errorf("finished update: got current %s (%d), want the update revision %s", st.CurrentRevision, st.CurrentReplicas, st.UpdateRevision)
			}
			if updated < 3 && st.CurrentRevision != first {
				t.Errorf("unfinished update: got current revision %s, want %s", st.CurrentRevision, first)
			}
		})
	}
}

func TestOnDeleteRecreatesWithTheUpdateRevision(t *testing.T) {
	f := newFixture(t, newSet(2, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}))
	f.bringUp(2)
	f.updateSet(image("img:2"))
	f.sync()
	f.removePod("web-1")
	f.sync()
	if got := f.images()["web-1"]; got != "img:2" {
		t.Errorf("re-created web-1 runs %s, want img:2", got)
	}
	if got := f.images()["web-0"]; got != "img:1" {
		t.Errorf("untouched web-0 runs %s, want img:1", got)
	}
}

func TestHistoryAndRollback(t *testing.T) {
	f := newFixture(t, newSet(1))
	f.bringUp(1)
	f.updateSet(image("img:2"))
	for i := 0; i < 3; i++ {
		f.rollOne()
	}
	revs := f.revisions()
	if len(revs) != 2 || revs[0].Revision != 1 || revs[1].Revision != 2 {
		t.Fatalf("got %d revisions, want revisions 1 and 2", len(revs))
	}
	for _, r := range revs {
		ref := metav1.GetControllerOf(r)
		if ref == nil || ref.Name != "web" || r.Labels["app"] != "web" || r.Labels[hashLabel] == "" {
			t.Errorf("revision %s: got owner %+v labels %v, want the set's with app and hash labels", r.Name, ref, r.Labels)
		}
	}
	// Rolling back to the first template renumbers its revision.
	f.updateSet(image("img:1"))
	f.sync()
	revs = f.revisions()
	if len(revs) != 2 || revs[1].Revision != 3 || revs[1].Name != f.set().Status.UpdateRevision {
		t.Errorf("after rollback got revisions %s=%d %s=%d, want the first one renumbered 3 and the update revision",
			revs[0].Name, revs[0].Revision, revs[1].Name, revs[1].Revision)
	}
}

func TestRevisionHistoryLimit(t *testing.T) {
	f := newFixture(t, newSet(1, func(s *appsv1.StatefulSet) { s.Spec.RevisionHistoryLimit = ptr(int32(1)) }))
	f.bringUp(1)
	for _, img := range []string{"img:2", "img:3", "img:4"} {
		f.updateSet(image(img))
		for i := 0; i < 3; i++ {
			f.rollOne()
		}
	}
	f.sync()
	// Live: the current (= update) revision; history: one more.
	if got := len(f.revisions()); got != 2 {
		t.Errorf("got %d revisions, want 2 (the live one and revisionHistoryLimit=1)", got)
	}
}

// TestRevisionMatchesUpstream checks the revision of a StatefulSet read
// from a Kubernetes 1.34 cluster (upstream's compatibility test data):
// same data, hence the same name, and no new revision for it.
func TestRevisionMatchesUpstream(t *testing.T) {
	var set appsv1.StatefulSet
	if err := json.Unmarshal([]byte(upstreamSet), &set); err != nil {
		t.Fatal(err)
	}
	rev, err := newRevision(&set, 1, ptr(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	if rev.Name != "test-776999688b" || rev.Labels[hashLabel] != "776999688b" {
		t.Errorf("got revision %s (hash %s), want test-776999688b", rev.Name, rev.Labels[hashLabel])
	}
	if string(rev.Data.Raw) != upstreamRevisionData {
		t.Errorf("got data\n%s\nwant\n%s", rev.Data.Raw, upstreamRevisionData)
	}
	restored, err := applyRevision(&set, rev)
	if err != nil {
		t.Fatal(err)
	}
	if restored.Spec.Template.Spec.Containers[0].Image != "test" || restored.Spec.Template.Annotations["test"] != "value" {
		t.Errorf("applying the revision lost the template: %+v", restored.Spec.Template)
	}
}

const upstreamRevisionData = `{"spec":{"template":{"$patch":"replace","metadata":{"annotations":{"test":"value"},"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}}}}`

const upstreamSet = `{"apiVersion":"apps/v1","kind":"StatefulSet",
"metadata":{"creationTimestamp":"2025-10-31T18:19:02Z","generation":1,"labels":{"sslabel":"value"},"name":"test","namespace":"default","resourceVersion":"16319","uid":"ec335e25-1045-4216-8634-50cfbe05f3d6"},
"spec":{"persistentVolumeClaimRetentionPolicy":{"whenDeleted":"Retain","whenScaled":"Retain"},"podManagementPolicy":"OrderedReady","replicas":1,"revisionHistoryLimit":10,
"selector":{"matchLabels":{"app":"foo"}},"serviceName":"",
"template":{"metadata":{"annotations":{"test":"value"},"labels":{"app":"foo"}},"spec":{"containers":[{"image":"test","imagePullPolicy":"Always","name":"test","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}],"dnsPolicy":"ClusterFirst","restartPolicy":"Always","schedulerName":"default-scheduler","securityContext":{},"terminationGracePeriodSeconds":30}},
"updateStrategy":{"rollingUpdate":{"partition":0},"type":"RollingUpdate"},
"volumeClaimTemplates":[{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"annotations":{"key":"value"},"labels":{"key":"value"},"name":"test"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}},"volumeMode":"Filesystem"},"status":{"phase":"Pending"}}]},
"status":{"availableReplicas":1,"collisionCount":0,"currentReplicas":1,"currentRevision":"test-776999688b","observedGeneration":1,"replicas":1,"updateRevision":"test-776999688b","updatedReplicas":1}}`
