package pvbinder

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"minik8s/pkg/controllers/reconcile"
)

const (
	// Name is the controller's name in kube-controller-manager.
	Name = "persistentvolume-binder"
	// Component is the source of its events, as upstream's.
	Component = "persistentvolume-controller"
	// ResyncPeriod is how often every claim and volume is synced again, as
	// upstream's --pvclaimbinder-sync-period: a claim waiting for a volume
	// that nothing announces (a class created later) is looked at again.
	ResyncPeriod = 15 * time.Second
)

// Queue keys are "pv/<name>" for volumes and "pvc/<namespace>/<name>" for
// claims: one queue, so that one set of workers serves both.
const (
	volumePrefix = "pv/"
	claimPrefix  = "pvc/"
)

// Controller is the PersistentVolume binder.
type Controller struct {
	client   kubernetes.Interface
	recorder record.EventRecorder
	pvLister corelisters.PersistentVolumeLister
	claims   corelisters.PersistentVolumeClaimLister
	pods     corelisters.PodLister
	classes  storagelisters.StorageClassLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	// written holds the objects the binder wrote and the informers may not
	// have delivered yet (upstream's storeObjectUpdate): a sync that
	// follows its own write at once reads what it wrote, not a stale cache
	// that would make it redo the write and conflict.
	mu      sync.Mutex
	written map[string]writtenObject
}

type writtenObject struct {
	rv  uint64
	obj any
}

// New wires the binder to the factory's PersistentVolume,
// PersistentVolumeClaim and StorageClass informers.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, recorder record.EventRecorder) *Controller {
	pvInf := factory.Core().V1().PersistentVolumes()
	pvcInf := factory.Core().V1().PersistentVolumeClaims()
	scInf := factory.Storage().V1().StorageClasses()
	podInf := factory.Core().V1().Pods()
	c := &Controller{
		client:   client,
		recorder: recorder,
		pvLister: pvInf.Lister(),
		claims:   pvcInf.Lister(),
		pods:     podInf.Lister(),
		classes:  scInf.Lister(),
		synced:   []cache.InformerSynced{pvInf.Informer().HasSynced, pvcInf.Informer().HasSynced, scInf.Informer().HasSynced, podInf.Informer().HasSynced},
		queue:    reconcile.NewQueue("persistentvolume"),
		written:  map[string]writtenObject{},
	}
	pvInf.Informer().AddEventHandler(reconcile.Handler(c.volumeChanged))
	pvcInf.Informer().AddEventHandler(reconcile.Handler(c.claimChanged))
	// A new or changed class (a default one appearing) may let waiting
	// claims go on.
	scInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueUnboundClaims() },
		UpdateFunc: func(_, _ any) { c.enqueueUnboundClaims() },
	})
	return c
}

func (c *Controller) volumeChanged(obj any) {
	pv, ok := reconcile.Object[*corev1.PersistentVolume](obj)
	if !ok {
		return
	}
	c.queue.Add(volumePrefix + pv.Name)
	// A volume that is or became free may be what a pending claim waits
	// for; a volume provisioned for a claim is bound by the claim's sync.
	if pv.Spec.ClaimRef == nil {
		c.enqueueUnboundClaims()
	} else {
		c.queue.Add(claimPrefix + pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
	}
}

func (c *Controller) claimChanged(obj any) {
	pvc, ok := reconcile.Object[*corev1.PersistentVolumeClaim](obj)
	if !ok {
		return
	}
	c.queue.Add(claimPrefix + pvc.Namespace + "/" + pvc.Name)
	// A deleted claim releases its volume; the volume's sync sees it.
	if pvc.Spec.VolumeName != "" {
		c.queue.Add(volumePrefix + pvc.Spec.VolumeName)
	}
}

func (c *Controller) enqueueUnboundClaims() {
	claims, _ := c.claims.List(labelsEverything)
	for _, pvc := range claims {
		if pvc.Spec.VolumeName == "" {
			c.queue.Add(claimPrefix + pvc.Namespace + "/" + pvc.Name)
		}
	}
}

// Run starts workers and blocks until ctx is done. Every ResyncPeriod all
// claims and volumes are queued again (the shared informers do not
// resync).
func (c *Controller) Run(ctx context.Context, workers int) {
	go wait.UntilWithContext(ctx, c.resync, ResyncPeriod)
	reconcile.Run(ctx, Name, c.queue, workers, c.synced, reconcile.Plain(c.sync))
}

func (c *Controller) resync(context.Context) {
	pvs, _ := c.pvLister.List(labelsEverything)
	for _, pv := range pvs {
		c.queue.Add(volumePrefix + pv.Name)
	}
	claims, _ := c.claims.List(labelsEverything)
	for _, pvc := range claims {
		c.queue.Add(claimPrefix + pvc.Namespace + "/" + pvc.Name)
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	switch {
	case strings.HasPrefix(key, volumePrefix):
		return c.syncVolumeKey(ctx, strings.TrimPrefix(key, volumePrefix))
	case strings.HasPrefix(key, claimPrefix):
		return c.syncClaimKey(ctx, strings.TrimPrefix(key, claimPrefix))
	}
	return nil
}

// remember records an object the binder just wrote.
func (c *Controller) remember(key string, rv string, obj any) {
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.written[key]; !ok || old.rv < n {
		c.written[key] = writtenObject{rv: n, obj: obj}
	}
}

// newer returns what the binder wrote last under key if that is newer than
// the cached object of resourceVersion rv, else nil; a cache that caught up
// drops the record.
func (c *Controller) newer(key, rv string) any {
	n, err := strconv.ParseUint(rv, 10, 64)
	c.mu.Lock()
	defer c.mu.Unlock()
	w, ok := c.written[key]
	if !ok {
		return nil
	}
	if err == nil && n >= w.rv {
		delete(c.written, key)
		return nil
	}
	return w.obj
}

func (c *Controller) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.written, key)
}

// volume reads a volume from the cache, or the binder's newer write of it.
func (c *Controller) volume(name string) (*corev1.PersistentVolume, error) {
	pv, err := c.pvLister.Get(name)
	if err != nil {
		return nil, err
	}
	if w, ok := c.newer(volumePrefix+name, pv.ResourceVersion).(*corev1.PersistentVolume); ok && w.UID == pv.UID {
		return w, nil
	}
	return pv, nil
}

// volumes lists the cached volumes, each replaced by the binder's newer
// write of it.
func (c *Controller) volumes() ([]*corev1.PersistentVolume, error) {
	pvs, err := c.pvLister.List(labelsEverything)
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.PersistentVolume, len(pvs))
	for i, pv := range pvs {
		out[i] = pv
		if w, ok := c.newer(volumePrefix+pv.Name, pv.ResourceVersion).(*corev1.PersistentVolume); ok && w.UID == pv.UID {
			out[i] = w
		}
	}
	return out, nil
}

// claim reads a claim from the cache, or the binder's newer write of it.
func (c *Controller) claim(namespace, name string) (*corev1.PersistentVolumeClaim, error) {
	pvc, err := c.claims.PersistentVolumeClaims(namespace).Get(name)
	if err != nil {
		return nil, err
	}
	if w, ok := c.newer(claimPrefix+namespace+"/"+name, pvc.ResourceVersion).(*corev1.PersistentVolumeClaim); ok && w.UID == pvc.UID {
		return w, nil
	}
	return pvc, nil
}

var labelsEverything = labels.Everything()
