package kubelet

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"minik8s/pkg/nodeclient"
)

// Agent is a running node agent.
type Agent struct {
	cfg     *Config
	rt      *containerdRuntime
	deps    *workerDeps
	nodeIP  string
	podList func() []*v1.Pod
	// secure protects the agent's API (nil: plain HTTP).
	secure *secureAPI

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

// Run runs the agent until ctx ends. Containers keep running after it
// returns; the next agent adopts them.
func Run(ctx context.Context, cfg *Config) error {
	restCfg, err := clientConfig(ctx, cfg)
	if err != nil {
		return err
	}
	client, err := nodeclient.New(restCfg)
	if err != nil {
		return fmt.Errorf("creating API client: %w", err)
	}
	rc := rest.CopyConfig(restCfg)
	rc.ContentType = "application/json"
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("creating API client: %w", err)
	}
	var reviews kubernetes.Interface
	if cfg.ClientCAFile != "" {
		reviews = kc
	}
	return run(ctx, cfg, client, kc, reviews)
}

// run is the agent on client; kc is client-go's clientset for the
// kubelet code reused as it is (pod certificates); reviews (nil: the
// agent's API is plain HTTP) asks the API server who calls the agent's
// API and what they may do.
func run(ctx context.Context, cfg *Config, client *nodeclient.Client, kc, reviews kubernetes.Interface) error {
	tuneGC()
	logger := klog.FromContext(ctx).WithValues("node", cfg.NodeName)
	ctx = klog.NewContext(ctx, logger)
	nodeIP := cfg.NodeIP
	if nodeIP == "" {
		ip, err := defaultRouteIP()
		if err != nil {
			return fmt.Errorf("finding the node IP (set --node-ip): %w", err)
		}
		nodeIP = ip
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("creating state dir: %w", err)
	}
	rt, err := newContainerdRuntime(ctx, cfg)
	if err != nil {
		return err
	}
	defer rt.Close()

	recorder := newRecorder(client, v1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	go recorder.run(ctx)

	// As the kubelet's Service informer: every Service of the cluster, for
	// the containers' service variables.
	services := nodeclient.NewInformer(client.Services("").ListWatch(nil), &v1.Service{})
	if err := services.AddIndexers(cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}); err != nil {
		return err
	}
	go services.RunWithContext(ctx)
	objects := &apiObjects{
		configMaps: func(ns string) getter[*v1.ConfigMap] { return client.ConfigMaps(ns) },
		secrets:    func(ns string) getter[*v1.Secret] { return client.Secrets(ns) },
		claims:     func(ns string) getter[*v1.PersistentVolumeClaim] { return client.PersistentVolumeClaims(ns) },
		volumes:    func() getter[*v1.PersistentVolume] { return client.PersistentVolumes() },
		services:   services,
		ttl:        objectTTL,

		clusterTrustBundles: trustBundleClient{client},
	}
	tokens := newTokenManager(func(ctx context.Context, ns, name string, tr *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
		return client.CreateToken(ctx, ns, name, tr, metav1.CreateOptions{})
	})
	go tokens.run(ctx)
	a := &Agent{
		cfg: cfg, rt: rt, nodeIP: nodeIP,
		workers: map[types.UID]*podWorker{},
		deps: &workerDeps{
			pods:     func(ns string) podAPI { return client.Pods(ns) },
			recorder: recorder, rt: rt, nodeName: cfg.NodeName, nodeIP: nodeIP,
			maxBackoff: cfg.CrashLoopMaxBackoff, resync: cfg.SyncFrequency,
			objects: objects,
			volumes: &volumeManager{podsDir: rt.podsDir, objects: objects, allocatable: capacity(cfg), mountTmpfs: mountTmpfs, tokens: tokens},
		},
	}
	a.deps.admit = a.admit
	if cfg.Proxy {
		a.deps.drain = newEndpointDrain()
	}

	if reviews != nil {
		if a.secure, err = newSecureAPI(ctx, cfg, nodeIP, reviews); err != nil {
			return err
		}
	}
	srv, err := a.serve(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()

	nodes := newNodeManager(cfg, client, rt, nodeIP, srv.port)
	podCIDR, err := nodes.register(ctx)
	if err != nil {
		return err
	}
	if err := rt.network.init(ctx, podCIDR, cfg.RealHost); err != nil {
		return err
	}
	go nodes.heartbeat(ctx)

	nodeInformer := nodeclient.NewInformer(client.Nodes().ListWatch(nil), &v1.Node{})
	routes := &routeSyncer{node: cfg.NodeName, lister: nodeInformer.GetStore(), kick: make(chan struct{}, 1)}
	_, _ = nodeInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { routes.trigger() },
		UpdateFunc: func(any, any) { routes.trigger() },
		DeleteFunc: func(any) { routes.trigger() },
	})
	go nodeInformer.RunWithContext(ctx)
	go routes.run(ctx)

	if cfg.Proxy {
		go runProxy(ctx, cfg, client, nodeIP, a.deps.drain)
	}

	podInformer := nodeclient.NewInformer(client.Pods("").ListWatch(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", cfg.NodeName).String()
	}), &v1.Pod{})
	go podInformer.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced, services.HasSynced) {
		return ctx.Err()
	}
	a.podList = func() []*v1.Pod { return nodeclient.List[*v1.Pod](podInformer.GetStore()) }
	podCerts := startPodCertificates(ctx, kc, cfg.NodeName, podInformer.GetStore(), recorder)
	a.deps.volumes.podCerts = podCerts

	// Adopt what containerd runs, clean up what belongs to no pod.
	found, err := rt.ListContainers(ctx)
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	byPod := map[types.UID][]ContainerInfo{}
	for _, ci := range found {
		byPod[ci.PodUID] = append(byPod[ci.PodUID], ci)
	}
	known := map[types.UID]bool{}
	for _, pod := range a.podList() {
		known[pod.UID] = true
		a.ensureWorker(ctx, pod, byPod[pod.UID])
	}
	for uid, cis := range byPod {
		if known[uid] {
			continue
		}
		logger.Info("removing containers of a pod that no longer exists", "uid", uid)
		for _, ci := range cis {
			_ = rt.StopContainer(ctx, ci.ID, 0)
			_ = rt.RemoveContainer(ctx, ci.ID)
		}
	}
	rt.cleanupOrphans(ctx, known)

	_, _ = podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			podCerts.track(ctx, obj.(*v1.Pod))
			a.ensureWorker(ctx, obj.(*v1.Pod), nil)
		},
		UpdateFunc: func(_, obj any) {
			podCerts.track(ctx, obj.(*v1.Pod))
			a.ensureWorker(ctx, obj.(*v1.Pod), nil)
		},
		DeleteFunc: func(obj any) {
			pod, ok := obj.(*v1.Pod)
			if !ok {
				tomb, ok := obj.(cache.DeletedFinalStateUnknown)
				if !ok {
					return
				}
				if pod, ok = tomb.Obj.(*v1.Pod); !ok {
					return
				}
			}
			podCerts.forget(ctx, pod)
			a.mu.Lock()
			w := a.workers[pod.UID]
			a.mu.Unlock()
			if w != nil {
				w.update(nil)
			}
		},
	})
	logger.Info("kubelet-lite running", "nodeIP", nodeIP, "podCIDR", podCIDR, "listen", srv.addr)
	<-ctx.Done()
	a.wg.Wait()
	return nil
}

// podAPI is what pod workers write through the API: status, and the
// final delete once the containers are gone. nodeclient's pods and
// client-go's typed pods client both have it.
type podAPI interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*v1.Pod, error)
	UpdateStatus(ctx context.Context, pod *v1.Pod, opts metav1.UpdateOptions) (*v1.Pod, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// ensureWorker hands pod to its worker, starting one if there is none.
func (a *Agent) ensureWorker(ctx context.Context, pod *v1.Pod, adopted []ContainerInfo) {
	if pod.Spec.NodeName != a.cfg.NodeName {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if w, ok := a.workers[pod.UID]; ok {
		w.update(pod)
		return
	}
	if ctx.Err() != nil {
		return
	}
	w := newPodWorker(a.deps, pod, adopted)
	a.workers[pod.UID] = w
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		w.run(ctx)
		a.mu.Lock()
		if a.workers[pod.UID] == w {
			delete(a.workers, pod.UID)
		}
		a.mu.Unlock()
	}()
}

// findPod returns the cached pod ns/name.
func (a *Agent) findPod(ns, name string) *v1.Pod {
	if a.podList == nil {
		return nil
	}
	for _, p := range a.podList() {
		if p.Namespace == ns && p.Name == name {
			return p
		}
	}
	return nil
}

// defaultRouteIP is the source address of the default route's interface.
func defaultRouteIP() (string, error) {
	conn, err := net.Dial("udp", "10.255.255.254:9")
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).IP.String(), nil
}

// trustBundleClient reads ClusterTrustBundles through the agent's client.
type trustBundleClient struct{ c *nodeclient.Client }

func (t trustBundleClient) Get(ctx context.Context, name string, opts metav1.GetOptions) (*certificatesv1.ClusterTrustBundle, error) {
	return t.c.ClusterTrustBundles().Get(ctx, name, opts)
}

func (t trustBundleClient) List(ctx context.Context, opts metav1.ListOptions) (*certificatesv1.ClusterTrustBundleList, error) {
	return t.c.ListClusterTrustBundles(ctx, opts)
}
