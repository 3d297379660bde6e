package rootcacertpublisher

import (
	"context"
	"fmt"
	"maps"
	"os"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

// Names and text as kube-controller-manager publishes them.
const (
	// Name is the controller's name in kube-controller-manager.
	Name = "root-ca-certificate-publisher-controller"
	// ConfigMapName is the ConfigMap made in every namespace.
	ConfigMapName = "kube-root-ca.crt"
	// Key holds the PEM bundle in the ConfigMap's data.
	Key = "ca.crt"
	// DescriptionAnnotation and Description say what the ConfigMap is for.
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// Controller is the root CA publisher.
type Controller struct {
	client   kubernetes.Interface
	rootCA   []byte
	nsLister corelisters.NamespaceLister
	cmLister corelisters.ConfigMapLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
}

// New wires the controller to the factory's Namespace and ConfigMap
// informers; it publishes rootCA (nil or empty publishes ca.crt: "").
// The queue's keys are namespace names.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, rootCA []byte) *Controller {
	nsInf := factory.Core().V1().Namespaces()
	cmInf := factory.Core().V1().ConfigMaps()
	c := &Controller{
		client:   client,
		rootCA:   rootCA,
		nsLister: nsInf.Lister(),
		cmLister: cmInf.Lister(),
		synced:   []cache.InformerSynced{nsInf.Informer().HasSynced, cmInf.Informer().HasSynced},
		queue:    reconcile.NewQueue("root_ca_cert_publisher"),
	}
	nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.namespaceChanged,
		UpdateFunc: func(_, cur any) { c.namespaceChanged(cur) },
	})
	cmInf.Informer().AddEventHandler(reconcile.Handler(c.configMapChanged))
	return c
}

func (c *Controller) namespaceChanged(obj any) {
	if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase == corev1.NamespaceActive {
		c.queue.Add(ns.Name)
	}
}

// configMapChanged queues the namespace of a kube-root-ca.crt that was
// added, changed or deleted; sync puts it back as it should be.
func (c *Controller) configMapChanged(obj any) {
	if cm, ok := reconcile.Object[*corev1.ConfigMap](obj); ok && cm.Name == ConfigMapName {
		c.queue.Add(cm.Namespace)
	}
}

// Run starts workers and blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, Name, c.queue, workers, c.synced, reconcile.Plain(c.sync),
		reconcile.Quiet(func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }))
}

// sync creates the namespace's kube-root-ca.crt, or updates it when its
// data or description differ from what is published.
func (c *Controller) sync(ctx context.Context, namespace string) error {
	ns, err := c.nsLister.Get(namespace)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	want := map[string]string{Key: string(c.rootCA)}
	cm, err := c.cmLister.ConfigMaps(namespace).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		_, err = c.client.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:        ConfigMapName,
				Namespace:   namespace,
				Annotations: map[string]string{DescriptionAnnotation: Description},
			},
			Data: want,
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// The namespace went away or began terminating since the cache
			// saw it.
			return nil
		}
		// AlreadyExists is returned: the cache was behind, and the retry
		// checks the data of the ConfigMap that is there.
		return err
	}
	if err != nil {
		return err
	}
	if maps.Equal(cm.Data, want) && cm.Annotations[DescriptionAnnotation] != "" {
		return nil
	}
	cm = cm.DeepCopy()
	cm.Data = want
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	cm.Annotations[DescriptionAnnotation] = Description
	_, err = c.client.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		// Deleted meanwhile: the delete event queues the namespace again.
		return nil
	}
	return err
}

// RootCA returns the CA bundle to publish: the content of file when it is
// set (it must hold PEM certificates), else the CA that server (the
// controller-manager's own connection to the apiserver) trusts, else
// nothing, which publishes the empty placeholder.
func RootCA(file string, server *rest.Config) ([]byte, error) {
	if file != "" {
		ca, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("reading --root-ca-file: %w", err)
		}
		if _, err := certutil.ParseCertsPEM(ca); err != nil {
			return nil, fmt.Errorf("--root-ca-file %s: %w (it must hold PEM-encoded CA certificates)", file, err)
		}
		return ca, nil
	}
	if server == nil {
		return nil, nil
	}
	if len(server.CAData) > 0 {
		return server.CAData, nil
	}
	if server.CAFile != "" {
		ca, err := os.ReadFile(server.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the apiserver's CA from the kubeconfig: %w", err)
		}
		return ca, nil
	}
	return nil, nil
}
