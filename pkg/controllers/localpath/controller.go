package localpath

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/tools/reference"
	"k8s.io/client-go/util/workqueue"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"minik8s/pkg/controllers/reconcile"
)

const (
	// Name is the controller's name in --controllers.
	Name = "local-path-provisioner"
	// Provisioner is the provisioner name of our StorageClass (rancher's is
	// rancher.io/local-path).
	Provisioner = "minik8s.io/local-path"
	// ClassName is the StorageClass created at start, as k3s names it.
	ClassName = "local-path"
	// HelperNamespace holds the helper pods.
	HelperNamespace = metav1.NamespaceSystem
	// LabelVolume on a helper pod names the volume it works on.
	LabelVolume = "minik8s.io/local-path-volume"
	// DefaultRoot is where volumes go unless configured (k3s:
	// /var/lib/rancher/k3s/storage).
	DefaultRoot = "/var/lib/minik8s/storage"
	// DefaultHelperImage runs the helper pods (rancher's default is busybox).
	DefaultHelperImage = "busybox:stable"
)

// Event reasons, as sig-storage-lib-external-provisioner's.
const (
	EventProvisioning          = "Provisioning"
	EventProvisioningSucceeded = "ProvisioningSucceeded"
	EventProvisioningFailed    = "ProvisioningFailed"
	EventVolumeFailedDelete    = "VolumeFailedDelete"
)

// Config is the provisioner's settings.
type Config struct {
	// Root is the directory volumes are created under, on every node.
	Root string
	// HelperImage is the image of the helper pods (needs sh and rm).
	HelperImage string
}

// Validate checks the settings.
func (c Config) Validate() error {
	if !filepath.IsAbs(c.Root) || filepath.Clean(c.Root) == "/" {
		return fmt.Errorf("local-path root %q must be an absolute path other than /", c.Root)
	}
	if c.HelperImage == "" {
		return errors.New("local-path helper image must not be empty")
	}
	return nil
}

// Controller is the local-path provisioner.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	recorder record.EventRecorder
	pvs      corelisters.PersistentVolumeLister
	claims   corelisters.PersistentVolumeClaimLister
	classes  storagelisters.StorageClassLister
	nodes    corelisters.NodeLister
	pods     corelisters.PodLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	now      func() time.Time
}

// Queue keys: "pvc/<namespace>/<name>" to provision, "pv/<name>" to delete.
const (
	claimPrefix  = "pvc/"
	volumePrefix = "pv/"
)

// New wires the provisioner to the factory's informers. cfg must be valid.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder, cfg Config) *Controller {
	pvInf := factory.Core().V1().PersistentVolumes()
	pvcInf := factory.Core().V1().PersistentVolumeClaims()
	scInf := factory.Storage().V1().StorageClasses()
	nodeInf := factory.Core().V1().Nodes()
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		cfg:      cfg,
		client:   client,
		recorder: recorder,
		pvs:      pvInf.Lister(),
		claims:   pvcInf.Lister(),
		classes:  scInf.Lister(),
		nodes:    nodeInf.Lister(),
		pods:     podInf.Lister(),
		synced: []cache.InformerSynced{pvInf.Informer().HasSynced, pvcInf.Informer().HasSynced, scInf.Informer().HasSynced,
			nodeInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue: reconcile.NewQueue("local-path"),
		now:   time.Now,
	}
	pvcInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.claimChanged,
		UpdateFunc: func(_, cur any) { c.claimChanged(cur) },
	})
	pvInf.Informer().AddEventHandler(reconcile.Handler(func(obj any) {
		if pv, ok := reconcile.Object[*corev1.PersistentVolume](obj); ok && pv.Annotations[storagehelpers.AnnDynamicallyProvisioned] == Provisioner {
			c.queue.Add(volumePrefix + pv.Name)
		}
	}))
	podInf.Informer().AddEventHandler(reconcile.Handler(func(obj any) {
		if pod, ok := reconcile.Object[*corev1.Pod](obj); ok && pod.Namespace == HelperNamespace && pod.Labels[LabelVolume] != "" {
			c.queue.Add(volumePrefix + pod.Labels[LabelVolume])
		}
	}))
	return c
}

func (c *Controller) claimChanged(obj any) {
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok && pvc.Spec.VolumeName == "" &&
		pvc.Annotations[storagehelpers.AnnStorageProvisioner] == Provisioner {
		c.queue.Add(claimPrefix + pvc.Namespace + "/" + pvc.Name)
	}
}

// Run creates the StorageClass if it is missing, then starts workers and
// blocks until ctx is done.
func (c *Controller) Run(ctx context.Context, workers int) {
	reconcile.Run(ctx, Name, c.queue, workers, c.synced, c.sync, reconcile.OnSynced(c.EnsureClass))
}

// Class is the StorageClass the provisioner serves, as k3s ships it.
func Class() *storagev1.StorageClass {
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	policy := corev1.PersistentVolumeReclaimDelete
	return &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: ClassName, Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}},
		Provisioner:       Provisioner,
		VolumeBindingMode: &mode,
		ReclaimPolicy:     &policy,
	}
}

// EnsureClass creates the local-path StorageClass unless one of that name
// exists (a class the administrator changed or replaced is left alone).
func (c *Controller) EnsureClass(ctx context.Context) error {
	if _, err := c.classes.Get(ClassName); err == nil {
		return nil
	}
	_, err := c.client.StorageV1().StorageClasses().Create(ctx, Class(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating StorageClass %s: %w", ClassName, err)
	}
	return nil
}

func (c *Controller) sync(ctx context.Context, key string) (reconcile.Result, error) {
	switch {
	case strings.HasPrefix(key, claimPrefix):
		ns, name, err := cache.SplitMetaNamespaceKey(strings.TrimPrefix(key, claimPrefix))
		if err != nil {
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, c.syncClaim(ctx, ns, name)
	case strings.HasPrefix(key, volumePrefix):
		return c.syncVolume(ctx, strings.TrimPrefix(key, volumePrefix))
	}
	return reconcile.Result{}, nil
}

// VolumeName is the name of the volume provisioned for a claim, as
// external provisioners name them.
func VolumeName(claim *corev1.PersistentVolumeClaim) string { return "pvc-" + string(claim.UID) }

// syncClaim provisions a volume for a claim handed to us, once its node is
// chosen.
func (c *Controller) syncClaim(ctx context.Context, namespace, name string) error {
	claim, err := c.claims.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if claim.Spec.VolumeName != "" || claim.DeletionTimestamp != nil || claim.Annotations[storagehelpers.AnnStorageProvisioner] != Provisioner {
		return nil
	}
	className := storagehelpers.GetPersistentVolumeClaimClass(claim)
	class, err := c.classes.Get(className)
	if apierrors.IsNotFound(err) {
		return nil // the binder reports a missing class
	}
	if err != nil {
		return err
	}
	if class.Provisioner != Provisioner {
		return nil
	}
	pvName := VolumeName(claim)
	if _, err := c.pvs.Get(pvName); err == nil {
		return nil // provisioned already; the binder binds it
	}
	fail := func(err error) error {
		c.recorder.Event(claim, corev1.EventTypeWarning, EventProvisioningFailed, fmt.Sprintf("failed to provision volume with StorageClass %q: %v", className, err))
		return nil
	}
	nodeName := claim.Annotations[storagehelpers.AnnSelectedNode]
	switch {
	case nodeName == "":
		return fail(errors.New("configuration error, no node was specified"))
	case claim.Spec.Selector != nil:
		return fail(errors.New("claim.Spec.Selector is not supported"))
	}
	node, err := c.nodes.Get(nodeName)
	if apierrors.IsNotFound(err) {
		// The node may be registering: tried again with back-off.
		err = fmt.Errorf("node %q not found", nodeName)
		_ = fail(err)
		return err
	}
	if err != nil {
		return err
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, EventProvisioning, fmt.Sprintf("External provisioner is provisioning volume for claim %q", claim.Namespace+"/"+claim.Name))
	pv, err := c.volumeFor(claim, class, node)
	if err != nil {
		return fail(err)
	}
	_, err = c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		c.recorder.Event(claim, corev1.EventTypeWarning, EventProvisioningFailed, fmt.Sprintf("failed to provision volume with StorageClass %q: %v", className, err))
		return fmt.Errorf("creating volume %s for claim %s/%s: %w", pvName, claim.Namespace, claim.Name, err)
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, EventProvisioningSucceeded, fmt.Sprintf("Successfully provisioned volume %s", pvName))
	return nil
}

// volumeFor is the volume provisioned for claim on node.
func (c *Controller) volumeFor(claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node *corev1.Node) (*corev1.PersistentVolume, error) {
	ref, err := reference.GetReference(scheme.Scheme, claim)
	if err != nil {
		return nil, fmt.Errorf("referring to the claim: %w", err)
	}
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil, errors.New("the claim requests no storage")
	}
	hostname := node.Labels[corev1.LabelHostname]
	if hostname == "" {
		hostname = node.Name
	}
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	name := VolumeName(claim)
	dirType := corev1.HostPathDirectoryOrCreate
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{storagehelpers.AnnDynamicallyProvisioned: Provisioner},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   claim.Spec.AccessModes,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef:                      ref,
			StorageClassName:              class.Name,
			PersistentVolumeReclaimPolicy: policy,
			MountOptions:                  class.MountOptions,
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: c.path(node.Name, name, claim),
				Type: &dirType,
			}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname}}},
			}}}},
		},
	}, nil
}

// path is rancher's <root>/<volume>_<namespace>_<claim>, with the node in
// between.
func (c *Controller) path(node, pvName string, claim *corev1.PersistentVolumeClaim) string {
	return filepath.Join(c.cfg.Root, node, fmt.Sprintf("%s_%s_%s", pvName, claim.Namespace, claim.Name))
}
