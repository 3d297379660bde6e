package kubelet

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/test/utils/hermeticpodcertificatesigner"
	"k8s.io/utils/clock"

	"minik8s/pkg/apiserver/apiservertest"
	"minik8s/pkg/nodeclient"
)

// TestPodCertificateProjection: against a real API server and upstream's
// hermetic signer (the one the conformance tests run), a pod's
// podCertificate source gets a PodCertificateRequest for its node, pod
// and ServiceAccount, and, once the signer issued it, the volume's
// credential bundle is the PKCS#8 key then the chain, the leaf living
// the requested maxExpirationSeconds (the conformance spec asks 1 h).
// Before the issue the source fails, so the volume's set-up is tried
// again (FailedMount), as the kubelet's.
func TestPodCertificateProjection(t *testing.T) {
	srv := apiservertest.Start(t)
	kc := kubernetes.NewForConfigOrDie(srv.Config)
	client, err := nodeclient.New(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	node, err := kc.CoreV1().Nodes().Create(ctx, &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().ServiceAccounts("default").Create(ctx, &v1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	const signer = "e2e.example.com/test-signer"
	hour := int32(3600)
	src := &v1.PodCertificateProjection{SignerName: signer, KeyType: "ECDSAP256", CredentialBundlePath: "bundle.pem", MaxExpirationSeconds: &hour}
	pod, err := kc.CoreV1().Pods("default").Create(ctx, &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: v1.PodSpec{NodeName: node.Name, ServiceAccountName: "default", Containers: []v1.Container{{Name: "c", Image: "img"}},
			Volumes: []v1.Volume{{Name: "tls", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{
				Sources: []v1.VolumeProjection{{PodCertificate: src}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	if err := store.Add(pod); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(client, v1.EventSource{Component: "kubelet", Host: node.Name})
	go rec.run(ctx)
	pc := startPodCertificates(ctx, kc, node.Name, store, rec)
	pc.track(ctx, pod)

	// Not issued yet: the source fails.
	if _, err := pc.payload(ctx, pod, "tls", 0, src, 0o644); err == nil {
		t.Fatal("a credential bundle before any signer ran")
	}

	caKeys, caCerts, err := hermeticpodcertificatesigner.GenerateCAHierarchy(1)
	if err != nil {
		t.Fatal(err)
	}
	go hermeticpodcertificatesigner.New(clock.RealClock{}, signer, "cluster.local", caKeys, caCerts, kc).Run(ctx)

	var bundle []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, err := pc.payload(ctx, pod, "tls", 0, src, 0o644)
		if err == nil {
			bundle = files["bundle.pem"].Data
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no credential bundle 30 s after the signer started: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	first, rest := pem.Decode(bundle)
	if first == nil || first.Type != "PRIVATE KEY" {
		t.Fatalf("bundle does not start with a PKCS#8 key:\n%s", bundle)
	}
	leafBlock, _ := pem.Decode(rest)
	if leafBlock == nil || leafBlock.Type != "CERTIFICATE" {
		t.Fatalf("no certificate after the key:\n%s", bundle)
	}
	leaf, err := x509.ParseCertificate(leafBlock.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life != time.Hour {
		t.Errorf("certificate lifetime %s, want 1h", life)
	}
	pcrs, err := kc.CertificatesV1().PodCertificateRequests("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pcrs.Items) != 1 || pcrs.Items[0].Spec.PodUID != pod.UID || pcrs.Items[0].Spec.NodeUID != node.UID ||
		!strings.HasPrefix(pcrs.Items[0].Name, "req-") {
		t.Errorf("requests %+v, want one for pod %s on node %s", pcrs.Items, pod.UID, node.UID)
	}
}
