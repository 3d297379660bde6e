package kubelet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// fakeIssuer answers token requests with numbered tokens expiring after
// the lifetime asked, at the fake clock's time, or fails when down.
type fakeIssuer struct {
	clock *testclock.FakeClock
	calls int
	down  bool
	last  *authenticationv1.TokenRequest
	ns    string
	sa    string
}

func (f *fakeIssuer) request(_ context.Context, ns, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if f.down {
		return nil, errors.New("connection refused")
	}
	f.calls++
	f.last, f.ns, f.sa = tr.DeepCopy(), ns, name
	out := tr.DeepCopy()
	if out.Spec.ExpirationSeconds == nil {
		out.Spec.ExpirationSeconds = ptr.To[int64](3600)
	}
	out.Status = authenticationv1.TokenRequestStatus{
		Token:               fmt.Sprintf("token-%d", f.calls),
		ExpirationTimestamp: metav1.NewTime(f.clock.Now().Add(time.Duration(*out.Spec.ExpirationSeconds) * time.Second)),
	}
	return out, nil
}

// TestTokenManagerRefresh: a token is reused until 80 % of its lifetime
// (or 24 h) has passed, then renewed; while the API is down, a token
// still valid is kept and an expired one is an error.
func TestTokenManagerRefresh(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		life int64 // expirationSeconds asked
		// steps: time since the first request, whether the API is
		// down, and the token wanted ("" an error).
		steps []struct {
			at   time.Duration
			down bool
			want string
		}
	}{
		{name: "1 h token renewed after 48 min", life: 3600, steps: []struct {
			at   time.Duration
			down bool
			want string
		}{
			{0, false, "token-1"},
			{47 * time.Minute, false, "token-1"},
			{48*time.Minute + time.Second, false, "token-2"},
			{60 * time.Minute, false, "token-2"},
		}},
		{name: "API down: kept while valid, then an error", life: 3600, steps: []struct {
			at   time.Duration
			down bool
			want string
		}{
			{0, false, "token-1"},
			{50 * time.Minute, true, "token-1"},
			{61 * time.Minute, true, ""},
			{62 * time.Minute, false, "token-2"},
		}},
		{name: "2-day token renewed after 24 h", life: 48 * 3600, steps: []struct {
			at   time.Duration
			down bool
			want string
		}{
			{0, false, "token-1"},
			{23 * time.Hour, false, "token-1"},
			{24*time.Hour + time.Second, false, "token-2"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clock := testclock.NewFakeClock(start)
			iss := &fakeIssuer{clock: clock}
			m := newTokenManager(iss.request)
			m.clock = clock
			m.jitter = func() time.Duration { return 0 }
			req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To(tt.life)}}
			for _, st := range tt.steps {
				clock.SetTime(start.Add(st.at))
				iss.down = st.down
				got, err := m.token(context.Background(), "ns", "sa", req)
				switch {
				case st.want == "" && err == nil:
					t.Errorf("at %v: got %s, want an error", st.at, got.Status.Token)
				case st.want != "" && (err != nil || got.Status.Token != st.want):
					t.Errorf("at %v: got %v, %v; want %s", st.at, got, err, st.want)
				}
			}
		})
	}
}

// TestTokenManagerForgetsPods: a deleted pod's tokens and expired ones
// are dropped from the cache.
func TestTokenManagerForgetsPods(t *testing.T) {
	clock := testclock.NewFakeClock(time.Now())
	iss := &fakeIssuer{clock: clock}
	m := newTokenManager(iss.request)
	m.clock = clock
	bound := func(uid string) *authenticationv1.TokenRequest {
		return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", Name: uid, UID: k8stypes.UID("uid-" + uid)}}}
	}
	for _, uid := range []string{"a", "b"} {
		if _, err := m.token(context.Background(), "ns", "sa", bound(uid)); err != nil {
			t.Fatal(err)
		}
	}
	m.deletePod("uid-a")
	if len(m.cache) != 1 {
		t.Fatalf("after deleting pod a: got %d cached tokens, want 1", len(m.cache))
	}
	clock.Step(2 * time.Hour)
	m.cleanup()
	if len(m.cache) != 0 {
		t.Errorf("after expiry: got %d cached tokens, want 0", len(m.cache))
	}
}

// TestProjectedServiceAccountToken: the projected volume's token is the
// pod's ServiceAccount's, bound to the pod, for the audience and lifetime
// of the projection, written with the volume's mode.
func TestProjectedServiceAccountToken(t *testing.T) {
	iss := &fakeIssuer{clock: testclock.NewFakeClock(time.Now())}
	m := &volumeManager{podsDir: t.TempDir(), objects: fakeObjects(fake.NewSimpleClientset()), tokens: newTokenManager(iss.request)}
	pod := volPod(v1.Volume{Name: "api", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{DefaultMode: ptr.To[int32](0o600), Sources: []v1.VolumeProjection{
		{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token", Audience: "vault", ExpirationSeconds: ptr.To[int64](3607)}}}}}})
	pod.Spec.ServiceAccountName = "robot"
	res := m.setup(context.Background(), pod)
	if len(res.failed) > 0 || len(res.warnings) > 0 {
		t.Fatalf("failed = %q, warnings = %q; want none", res.failed, res.warnings)
	}
	got := readVolume(t, res.volumes["api"].path)
	if got["token"] != "-rw------- token-1" {
		t.Errorf("got files %q, want token = token-1, mode 0600", got)
	}
	r := iss.last
	if iss.ns != "default" || iss.sa != "robot" || !slices.Equal(r.Spec.Audiences, []string{"vault"}) || *r.Spec.ExpirationSeconds != 3607 ||
		r.Spec.BoundObjectRef == nil || r.Spec.BoundObjectRef.Kind != "Pod" || r.Spec.BoundObjectRef.Name != "p" || r.Spec.BoundObjectRef.UID != "uid-1" {
		t.Errorf("got request for %s/%s %+v, want default/robot for vault, 3607 s, bound to pod p uid-1", iss.ns, iss.sa, r.Spec)
	}
	// A resync within the token's life writes the same token.
	m.setup(context.Background(), pod)
	if iss.calls != 1 {
		t.Errorf("got %d token requests after a resync, want 1", iss.calls)
	}
	iss.down = true
	pod.UID = "uid-2"
	res = m.setup(context.Background(), pod)
	if len(res.failed) != 1 || !strings.Contains(res.failed[0], "failed to fetch token: connection refused") {
		t.Errorf("API down for a new pod: got failed %q, want the token's error", res.failed)
	}
}
