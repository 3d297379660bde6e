package apiserver

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"minik8s/pkg/api"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"minik8s/pkg/storage"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/proxy"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericrest "k8s.io/apiserver/pkg/registry/generic/rest"
	streamproxy "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/klog/v2"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

func (s *Server) subresource(k *call) {
	sub, verb := k.info.Subresource, k.info.Verb
	if !k.r.HasSubresource(sub) || k.name == "" {
		writeError(k.c, notFoundPath(k.c.Request.URL.Path))
		return
	}
	if st, ok := k.r.StatusLike[sub]; ok {
		s.statusLike(k, sub, st)
		return
	}
	switch {
	case sub == "status" && verb == "get":
		s.get(k)
	case sub == "status" && verb == "update":
		s.update(k, true)
	case sub == "status" && verb == "patch":
		s.patch(k, true)
	case sub == "scale" && verb == "get":
		s.getScale(k)
	case sub == "scale" && (verb == "update" || verb == "patch"):
		s.updateScale(k, verb == "patch")
	case sub == "binding" && verb == "create":
		s.bind(k)
	case sub == "finalize" && verb == "update":
		s.finalize(k)
	case sub == "log" && verb == "get":
		s.proxyToKubelet(k, "containerLogs")
	case sub == "eviction" && verb == "create":
		s.evict(k)
	case sub == "token" && verb == "create":
		s.tokenRequest(k)
	case sub == "exec" && (verb == "get" || verb == "create"):
		if s.connectAdmitted(k, &corev1.PodExecOptions{}) {
			s.proxyToKubelet(k, "exec")
		}
	case sub == "attach" && (verb == "get" || verb == "create"):
		if s.connectAdmitted(k, &corev1.PodAttachOptions{}) {
			s.proxyToKubelet(k, "attach")
		}
	case sub == "proxy":
		// Every method passes to the backend (OPTIONS has no verb).
		s.proxySubresource(k)
	case sub == "portforward" && (verb == "get" || verb == "create"):
		if s.connectAdmitted(k, &corev1.PodPortForwardOptions{}) {
			s.proxyToKubelet(k, "portForward")
		}
	default:
		writeError(k.c, apierrors.NewMethodNotSupported(schema.GroupResource{Group: k.r.Group, Resource: k.r.Plural + "/" + sub}, verb))
	}
}

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

func (s *Server) getScale(k *call) {
	obj := k.r.New()
	if err := s.store.Get(k.ctx(), k.key(), obj); err != nil {
		writeError(k.c, storageError(k.r, k.name, err))
		return
	}
	sc, err := k.r.ScaleOf(obj)
	if err != nil {
		writeError(k.c, apierrors.NewInternalError(err))
		return
	}
	writeJSON(k.c, http.StatusOK, sc)
}

func (s *Server) updateScale(k *call, isPatch bool) {
	var pt = ""
	var body []byte
	var err error
	var sent runtime.Object
	newScale := func() runtime.Object { return &autoscalingv1.Scale{} }
	if isPatch {
		t, err := patchType(k.c)
		if err == nil && t == types.ApplyYAMLPatchType {
			err = unsupportedMediaType("server-side apply of the scale subresource is not supported by this server: use a merge patch of spec.replicas (ctl scale)")
		}
		if err != nil {
			writeError(k.c, err)
			return
		}
		pt = string(t)
		body, err = readBody(k.c)
	} else {
		sent, err = s.decodeRequest(k.c, scaleGVK, newScale)
	}
	if err != nil {
		writeError(k.c, err)
		return
	}
	out, err := s.guaranteedUpdate(k, func(cur runtime.Object) (runtime.Object, error) {
		curScale, err := k.r.ScaleOf(cur)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		obj := sent
		if isPatch {
			orig, _ := json.Marshal(curScale)
			data, err := applyPatch(typesPatch(pt), orig, body, &autoscalingv1.Scale{})
			if err != nil {
				return nil, err
			}
			if obj, err = s.decodeInto(k.c, data, scaleGVK, newScale); err != nil {
				return nil, err
			}
		}
		sc := obj.(*autoscalingv1.Scale)
		if sc.Name != "" && sc.Name != k.name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", sc.Name, k.name))
		}
		if sc.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, k.name, field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), sc.Spec.Replicas, "must be greater than or equal to 0")})
		}
		upd := cur.DeepCopyObject()
		if err := k.r.SetReplicas(upd, sc.Spec.Replicas); err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		if sc.ResourceVersion != "" {
			if err := storage.SetResourceVersion(upd, mustParseRV(sc.ResourceVersion)); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		}
		return s.prepareUpdate(k, upd, cur, false)
	})
	if err != nil {
		writeError(k.c, err)
		return
	}
	sc, err := k.r.ScaleOf(out)
	if err != nil {
		writeError(k.c, apierrors.NewInternalError(err))
		return
	}
	writeJSON(k.c, http.StatusOK, sc)
}

func mustParseRV(rv string) int64 {
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// bind sets spec.nodeName and PodScheduled=True, and clears
// status.nominatedNodeName, in one write.
func (s *Server) bind(k *call) {
	obj, err := s.decodeRequest(k.c, corev1.SchemeGroupVersion.WithKind("Binding"), func() runtime.Object { return &corev1.Binding{} })
	if err != nil {
		writeError(k.c, err)
		return
	}
	b := obj.(*corev1.Binding)
	if b.Name != "" && b.Name != k.name {
		writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("the name of the binding (%s) does not match the pod on the URL (%s)", b.Name, k.name)))
		return
	}
	if b.Target.Name == "" || (b.Target.Kind != "" && b.Target.Kind != "Node") {
		writeError(k.c, apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, k.name, field.ErrorList{field.Required(field.NewPath("target", "name"), "a Node to bind to is required")}))
		return
	}
	if k.dryRun() {
		writeJSON(k.c, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
		return
	}
	out := &corev1.Pod{}
	err = s.store.GuaranteedUpdate(k.ctx(), k.key(), out, func(cur runtime.Object) (runtime.Object, error) {
		pod := cur.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", k.name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("pod %s is already assigned to node %q", k.name, pod.Spec.NodeName))
		}
		if b.UID != "" && b.UID != pod.UID {
			return nil, apierrors.NewConflict(k.gr(), k.name, fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", b.UID, pod.UID))
		}
		if b.ResourceVersion != "" && b.ResourceVersion != pod.ResourceVersion {
			return nil, apierrors.NewConflict(k.gr(), k.name, errors.New(storage.OptimisticLockMsg))
		}
		pod.Spec.NodeName = b.Target.Name
		// The nomination has served (ClearingNominatedNodeNameAfterBinding,
		// on by default since Kubernetes 1.35).
		pod.Status.NominatedNodeName = ""
		for ann, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[ann] = v
		}
		cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}
		found := false
		for i := range pod.Status.Conditions {
			if pod.Status.Conditions[i].Type == corev1.PodScheduled {
				pod.Status.Conditions[i] = cond
				found = true
			}
		}
		if !found {
			pod.Status.Conditions = append(pod.Status.Conditions, cond)
		}
		return pod, nil
	})
	if err != nil {
		writeError(k.c, storageError(k.r, k.name, err))
		return
	}
	writeJSON(k.c, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated})
}

// finalize writes a namespace's spec.finalizers; with none left on a
// terminating namespace, the namespace goes.
func (s *Server) finalize(k *call) {
	obj, err := s.decodeRequest(k.c, k.r.GroupVersionKind(), k.r.New)
	if err != nil {
		writeError(k.c, err)
		return
	}
	if err := checkNameMatches(k, obj); err != nil {
		writeError(k.c, err)
		return
	}
	in := obj.(*corev1.Namespace)
	out, err := s.guaranteedUpdate(k, func(cur runtime.Object) (runtime.Object, error) {
		ns := cur.(*corev1.Namespace)
		if in.ResourceVersion != "" && in.ResourceVersion != ns.ResourceVersion {
			return nil, apierrors.NewConflict(k.gr(), k.name, errors.New(storage.OptimisticLockMsg))
		}
		ns.Spec.Finalizers = in.Spec.Finalizers
		return ns, nil
	})
	if err != nil {
		writeError(k.c, err)
		return
	}
	writeObject(k.c, http.StatusOK, k.r, out)
}

// proxyToKubelet forwards logs, exec, attach and port forwarding to the agent of the pod's node.
func (s *Server) proxyToKubelet(k *call, what string) {
	var pod corev1.Pod
	if err := s.store.Get(k.ctx(), k.key(), &pod); err != nil {
		writeError(k.c, storageError(k.r, k.name, err))
		return
	}
	q := k.c.Request.URL.Query()
	container := q.Get("container")
	switch {
	case what == "portForward":
		// Port forwarding reaches the pod, not one of its containers.
		container = ""
	case container == "":
		if len(pod.Spec.Containers) != 1 {
			var names []string
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", k.name, names)))
			return
		}
		container = pod.Spec.Containers[0].Name
	default:
		found := false
		for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
			if c.Name == container {
				found = true
			}
		}
		for _, c := range pod.Spec.EphemeralContainers {
			if c.Name == container {
				found = true
			}
		}
		if !found {
			writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", container, k.name)))
			return
		}
	}
	if pod.Spec.NodeName == "" {
		writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", k.name)))
		return
	}
	var node corev1.Node
	if err := s.store.Get(k.ctx(), storage.Key("nodes", "", pod.Spec.NodeName), &node); err != nil {
		writeError(k.c, apierrors.NewBadRequest(fmt.Sprintf("node %s of pod %s: %v", pod.Spec.NodeName, k.name, storageError(k.r, pod.Spec.NodeName, err))))
		return
	}
	q.Del("container")
	path := fmt.Sprintf("/%s/%s/%s/%s", what, pod.Namespace, pod.Name, container)
	if container == "" {
		path = fmt.Sprintf("/%s/%s/%s", what, pod.Namespace, pod.Name)
	}
	target, err := s.kubeletURL(&node, path)
	if err != nil {
		writeError(k.c, apierrors.NewBadRequest(err.Error()))
		return
	}
	target.RawQuery = q.Encode()
	if what == "containerLogs" && wsstream.IsWebSocketRequest(k.c.Request) {
		s.logsOverWebSocket(k, target)
		return
	}
	// The handler forwards the request's query: leave only the agent's.
	k.c.Request.URL.RawQuery = target.RawQuery
	h := proxy.NewUpgradeAwareHandler(target, s.kubeletTransport, false, what != "containerLogs", proxyResponder{k})
	h.UseRequestLocation = false
	h.UseLocationHost = true
	var handler http.Handler = h
	if what == "portForward" {
		// kubectl port-forward first tunnels SPDY through a WebSocket
		// (SPDY/3.1+portforward.k8s.io); as Kubernetes' API server does for
		// an agent without WebSocket support, unwrap it here and speak SPDY
		// to the agent. Plain SPDY requests pass through unchanged.
		handler = streamproxy.NewTranslatingHandler(h, streamproxy.NewTunnelingHandler(h), wsstream.IsWebSocketRequestWithTunnelingProtocol)
	}
	handler.ServeHTTP(k.c.Writer, k.c.Request)
}

// logsOverWebSocket serves pods/log to a WebSocket client as Kubernetes'
// API server does (responsewriters.StreamObject): it reads the log from
// the agent over plain HTTP and writes it to the client as WebSocket
// messages, binary (subprotocol binary.k8s.io or none) or base64
// (base64.binary.k8s.io), after an empty first message. The agent needs
// no WebSocket support of its own.
func (s *Server) logsOverWebSocket(k *call, target *url.URL) {
	protocols := wsstream.NewDefaultReaderProtocols()
	if err := checkReaderProtocols(k.c.Request, protocols); err != nil {
		writeError(k.c, err)
		return
	}
	streamer := &genericrest.LocationStreamer{
		Location:        target,
		Transport:       s.kubeletTransport,
		ContentType:     "text/plain",
		Flush:           true,
		ResponseChecker: genericrest.NewGenericHttpResponseChecker(schema.GroupResource{Resource: "pods/log"}, k.name),
		RedirectChecker: genericrest.PreventRedirects,
	}
	out, _, _, err := streamer.InputStream(k.ctx(), "v1", "")
	if err != nil {
		if _, ok := err.(apierrors.APIStatus); !ok {
			err = apierrors.NewServiceUnavailable(fmt.Sprintf("reading the log from the node agent: %v", err))
		}
		writeError(k.c, err)
		return
	}
	defer out.Close()
	// wsstream's copy loop stops at io.EOF without sending the bytes read
	// with it, and an HTTP body of known length ends with its last bytes
	// and io.EOF in one Read; bufio.Reader never returns both at once.
	r := wsstream.NewReader(bufio.NewReader(out), true, protocols)
	if err := r.Copy(k.c.Writer, k.c.Request); err != nil {
		klog.FromContext(k.ctx()).V(2).Info("streaming a pod log over WebSocket", "pod", klog.KRef(k.ns, k.name), "err", err)
	}
}

// checkReaderProtocols refuses a WebSocket request none of whose
// subprotocols is served, before the upgrade: wsstream's Reader would
// answer 403 too, but then wait forever for a connection that never came.
func checkReaderProtocols(req *http.Request, protocols map[string]wsstream.ReaderProtocolConfig) error {
	var asked []string
	for _, h := range req.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.TrimSpace(p); p != "" {
				asked = append(asked, p)
			}
		}
	}
	if len(asked) == 0 {
		asked = []string{""}
	}
	for _, p := range asked {
		if _, ok := protocols[p]; ok {
			return nil
		}
	}
	var served []string
	for p := range protocols {
		if p != "" {
			served = append(served, p)
		}
	}
	sort.Strings(served)
	return apierrors.NewForbidden(schema.GroupResource{Resource: "pods/log"}, "", fmt.Errorf("requested WebSocket subprotocol(s) %v are not supported: use one of %v, or none", asked, served))
}

type proxyResponder struct{ k *call }

func (p proxyResponder) Error(w http.ResponseWriter, req *http.Request, err error) {
	st := toStatus(apierrors.NewServiceUnavailable(fmt.Sprintf("proxying to the node agent: %v", err)))
	data, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(data)
}

// statusLike serves a subresource written like status through a strategy
// of its own (certificatesigningrequests/approval): get, update, patch.
func (s *Server) statusLike(k *call, sub string, st api.Strategy) {
	one := *k
	one.r = k.r.WithStrategy(st)
	switch k.info.Verb {
	case "get":
		s.get(&one)
	case "update":
		s.update(&one, true)
	case "patch":
		s.patch(&one, true)
	default:
		writeError(k.c, apierrors.NewMethodNotSupported(schema.GroupResource{Group: k.r.Group, Resource: k.r.Plural + "/" + sub}, k.info.Verb))
	}
}
