package kubelet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes/fake"
)

// fakeTrustBundles serves ClusterTrustBundles by name and lists them by
// label and spec.signerName as the apiserver does, counting lists.
type fakeTrustBundles struct {
	items []certificatesv1.ClusterTrustBundle
	lists int
}

func (f *fakeTrustBundles) Get(_ context.Context, name string, _ metav1.GetOptions) (*certificatesv1.ClusterTrustBundle, error) {
	for i := range f.items {
		if f.items[i].Name == name {
			return &f.items[i], nil
		}
	}
	return nil, apierrors.NewNotFound(certificatesv1.Resource("clustertrustbundles"), name)
}

func (f *fakeTrustBundles) List(_ context.Context, opts metav1.ListOptions) (*certificatesv1.ClusterTrustBundleList, error) {
	f.lists++
	ls, err := labels.Parse(opts.LabelSelector)
	if err != nil {
		return nil, err
	}
	fs, err := fields.ParseSelector(opts.FieldSelector)
	if err != nil {
		return nil, err
	}
	out := &certificatesv1.ClusterTrustBundleList{}
	for _, ctb := range f.items {
		if ls.Matches(labels.Set(ctb.Labels)) && fs.Matches(fields.Set{"spec.signerName": ctb.Spec.SignerName}) {
			out.Items = append(out.Items, ctb)
		}
	}
	return out, nil
}

// selfSignedPEM is a self-signed CA certificate in PEM.
func selfSignedPEM(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// commonNames are the subjects of the certificates of a PEM file, in
// its order.
func commonNames(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c.Subject.CommonName)
	}
}

func TestClusterTrustBundleProjection(t *testing.T) {
	a, b, c, d := selfSignedPEM(t, "a"), selfSignedPEM(t, "b"), selfSignedPEM(t, "c"), selfSignedPEM(t, "d")
	ctb := func(name, signer, bundle string, lbls map[string]string) certificatesv1.ClusterTrustBundle {
		return certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: signer, TrustBundle: bundle}}
	}
	bundles := &fakeTrustBundles{items: []certificatesv1.ClusterTrustBundle{
		ctb("plain", "", a+b, nil),
		ctb("one:alive", "example.com/one", c+a, map[string]string{"alive": "true"}),
		ctb("one:dead", "example.com/one", d, map[string]string{"alive": "false"}),
		ctb("one:alive2", "example.com/one", c, map[string]string{"alive": "true"}),
		ctb("two:alive", "example.com/two", b, map[string]string{"alive": "true"}),
	}}
	yes, no := true, false
	one := "example.com/one"
	name := func(n string) *string { return &n }
	for _, tt := range []struct {
		name    string
		src     v1.ClusterTrustBundleProjection
		want    []string // common names in the file, sorted by DER
		wantErr string
	}{
		{name: "by name", src: v1.ClusterTrustBundleProjection{Name: name("plain")}, want: []string{"a", "b"}},
		{name: "by name, missing, optional: an empty file", src: v1.ClusterTrustBundleProjection{Name: name("nope"), Optional: &yes}, want: nil},
		{name: "by name, missing", src: v1.ClusterTrustBundleProjection{Name: name("nope"), Optional: &no},
			wantErr: `while getting ClusterTrustBundle: clustertrustbundle.certificates.k8s.io "nope" not found`},
		{name: "by signer and labels: distinct certificates of that signer only",
			src:  v1.ClusterTrustBundleProjection{SignerName: &one, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"alive": "true"}}},
			want: []string{"a", "c"}},
		{name: "by signer, empty selector: all of the signer's",
			src:  v1.ClusterTrustBundleProjection{SignerName: &one, LabelSelector: &metav1.LabelSelector{}},
			want: []string{"a", "c", "d"}},
		{name: "by signer, nil selector matches nothing, optional", src: v1.ClusterTrustBundleProjection{SignerName: &one, Optional: &yes}, want: nil},
		{name: "by signer, nil selector matches nothing", src: v1.ClusterTrustBundleProjection{SignerName: &one},
			wantErr: "combination of signerName and labelSelector matched zero ClusterTrustBundles"},
		{name: "by signer, selector matching nothing",
			src:     v1.ClusterTrustBundleProjection{SignerName: &one, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"alive": "unknown"}}},
			wantErr: "matched zero ClusterTrustBundles"},
		{name: "neither name nor signer", src: v1.ClusterTrustBundleProjection{},
			wantErr: "ClusterTrustBundle projection requires either name or signerName to be set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs := fakeObjects(fake.NewSimpleClientset())
			objs.clusterTrustBundles = bundles
			m := &volumeManager{podsDir: t.TempDir(), objects: objs}
			src := tt.src
			src.Path = "ca/bundle.pem"
			pod := volPod(v1.Volume{Name: "v", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
				DefaultMode: ptrInt32(0o644), Sources: []v1.VolumeProjection{{ClusterTrustBundle: &src}}}}})
			res := m.setup(context.Background(), pod)
			if tt.wantErr != "" {
				if len(res.failed) != 1 || !strings.Contains(res.failed[0], tt.wantErr) {
					t.Fatalf("failed = %q, want one containing %q", res.failed, tt.wantErr)
				}
				return
			}
			if len(res.failed) > 0 || len(res.warnings) > 0 {
				t.Fatalf("failed = %q, warnings = %q", res.failed, res.warnings)
			}
			data, err := os.ReadFile(filepath.Join(res.volumes["v"].path, "ca/bundle.pem"))
			if err != nil {
				t.Fatal(err)
			}
			got := commonNames(t, data)
			if len(got) != len(tt.want) {
				t.Fatalf("certificates %q, want %q", got, tt.want)
			}
			for _, cn := range tt.want {
				if !strings.Contains(strings.Join(got, ","), cn) {
					t.Fatalf("certificates %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestTrustAnchorsSortedAndDeduplicated(t *testing.T) {
	a, b := selfSignedPEM(t, "a"), selfSignedPEM(t, "b")
	first := trustAnchors([]string{a + b, b})
	second := trustAnchors([]string{b, a, a})
	if string(first) != string(second) {
		t.Errorf("the same certificates in another order gave another file:\n%s\n%s", first, second)
	}
	if n := len(commonNames(t, first)); n != 2 {
		t.Errorf("%d certificates, want 2", n)
	}
	if got := trustAnchors(nil); len(got) != 0 {
		t.Errorf("no bundles gave %q, want an empty file", got)
	}
}

func TestTrustBundleListsCached(t *testing.T) {
	bundles := &fakeTrustBundles{items: []certificatesv1.ClusterTrustBundle{{ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: "example.com/x", TrustBundle: selfSignedPEM(t, "x")}}}}
	objs := &apiObjects{clusterTrustBundles: bundles, ttl: time.Minute}
	for range 3 {
		got, err := objs.trustBundlesOf(context.Background(), "example.com/x", labels.Everything())
		if err != nil || len(got) != 1 {
			t.Fatalf("trustBundlesOf = %d bundles, %v; want 1", len(got), err)
		}
	}
	if bundles.lists != 1 {
		t.Errorf("%d lists for three reads within the TTL, want 1", bundles.lists)
	}
}
