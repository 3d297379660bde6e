package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubernetes/pkg/kubelet/podcertificate"
	"k8s.io/utils/clock"

	"minik8s/pkg/nodeclient"
)

// podCertificate projected volume sources, as the kubelet gives them: the
// kubelet's own podcertificate.IssuingManager makes each source's key,
// creates its PodCertificateRequest (as the node; the Node authorizer and
// NodeRestriction admit it), waits for the signer's certificate and
// renews it; the volume writes what the manager holds, and a source whose
// certificate is not issued yet fails the volume's set-up (FailedMount),
// tried again until it is.

// podCertificates is the manager and what it is fed.
type podCertificates struct {
	manager podcertificate.Manager
}

// startPodCertificates starts the manager for node on kc, with the
// agent's pods (store) and events; it runs until ctx ends.
func startPodCertificates(ctx context.Context, kc kubernetes.Interface, node string, store cache.Store, rec *recorder) *podCertificates {
	pcrs := newPCRInformer(kc, node)
	nodes := newNodeInformer(kc, node)
	m := podcertificate.NewIssuingManager(kc, podStore{store}, annotatedRecorder{rec}, pcrs, nodes, types.NodeName(node), clock.RealClock{})
	go pcrs.inf.RunWithContext(ctx)
	go nodes.inf.RunWithContext(ctx)
	go m.Run(ctx)
	return &podCertificates{manager: m}
}

// track queues pod's sources (a new pod, or one changed); forget drops
// what the manager holds for a pod gone.
func (p *podCertificates) track(ctx context.Context, pod *v1.Pod) {
	if p != nil && hasPodCertificates(pod) {
		p.manager.TrackPod(ctx, pod)
	}
}

func (p *podCertificates) forget(ctx context.Context, pod *v1.Pod) {
	if p != nil && hasPodCertificates(pod) {
		p.manager.ForgetPod(ctx, pod)
	}
}

func hasPodCertificates(pod *v1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.PodCertificate != nil {
				return true
			}
		}
	}
	return false
}

// payload is source number index of the pod's projected volume volName,
// written as the kubelet's projected volume writes it: the credential
// bundle (the PKCS#8 key, then the chain), the key and the chain, each at
// the path the source names.
func (p *podCertificates) payload(ctx context.Context, pod *v1.Pod, volName string, index int, src *v1.PodCertificateProjection, mode int32) (map[string]fileProjection, error) {
	key, chain, err := p.manager.GetPodCertificateCredentialBundle(ctx, pod.Namespace, pod.Name, string(pod.UID), volName, index)
	if err != nil {
		return nil, fmt.Errorf("podCertificate source %d (signer %s): %w", index, src.SignerName, err)
	}
	out := map[string]fileProjection{}
	if src.CredentialBundlePath != "" {
		var b bytes.Buffer
		b.Write(key)
		b.Write(chain)
		out[src.CredentialBundlePath] = fileProjection{Data: b.Bytes(), Mode: mode}
	}
	if src.KeyPath != "" {
		out[src.KeyPath] = fileProjection{Data: key, Mode: mode}
	}
	if src.CertificateChainPath != "" {
		out[src.CertificateChainPath] = fileProjection{Data: chain, Mode: mode}
	}
	return out, nil
}

// podStore is the manager's view of the node's pods: the agent's pod
// informer.
type podStore struct{ store cache.Store }

func (s podStore) GetPods() []*v1.Pod { return nodeclient.List[*v1.Pod](s.store) }

func (s podStore) GetPodByUID(uid types.UID) (*v1.Pod, bool) {
	for _, p := range s.GetPods() {
		if p.UID == uid {
			return p, true
		}
	}
	return nil, false
}

// annotatedRecorder gives the agent's recorder client-go's EventRecorder
// interface.
type annotatedRecorder struct{ *recorder }

func (r annotatedRecorder) AnnotatedEventf(object runtime.Object, _ map[string]string, eventtype, reason, messageFmt string, args ...any) {
	r.Eventf(object, eventtype, reason, messageFmt, args...)
}

// pcrInformer is the node's PodCertificateRequests (field selector
// spec.nodeName, the list the Node authorizer allows a node), made
// without client-go's informer factory, which links every group's
// informers into the agent.
type pcrInformer struct{ inf cache.SharedIndexInformer }

func newPCRInformer(kc kubernetes.Interface, node string) pcrInformer {
	pcrs := kc.CertificatesV1().PodCertificateRequests(metav1.NamespaceAll)
	lw := selectedListWatch(fields.OneTermEqualSelector("spec.nodeName", node).String(),
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return pcrs.List(ctx, o) }, pcrs.Watch)
	return pcrInformer{cache.NewSharedIndexInformer(lw, &certificatesv1.PodCertificateRequest{}, 10*time.Minute,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})}
}

func (i pcrInformer) Informer() cache.SharedIndexInformer { return i.inf }

func (i pcrInformer) Lister() certlisters.PodCertificateRequestLister {
	return certlisters.NewPodCertificateRequestLister(i.inf.GetIndexer())
}

// nodeInformer is the agent's own Node (the manager puts its UID in each
// request).
type nodeInformer struct{ inf cache.SharedIndexInformer }

func newNodeInformer(kc kubernetes.Interface, node string) nodeInformer {
	nodes := kc.CoreV1().Nodes()
	lw := selectedListWatch(fields.OneTermEqualSelector("metadata.name", node).String(),
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return nodes.List(ctx, o) }, nodes.Watch)
	return nodeInformer{cache.NewSharedIndexInformer(lw, &v1.Node{}, 10*time.Minute, cache.Indexers{})}
}

func (i nodeInformer) Informer() cache.SharedIndexInformer { return i.inf }

func (i nodeInformer) Lister() corelisters.NodeLister {
	return corelisters.NewNodeLister(i.inf.GetIndexer())
}

// selectedListWatch lists and watches with the field selector sel.
func selectedListWatch(sel string, list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return watchFn(ctx, o)
		},
	}
}
