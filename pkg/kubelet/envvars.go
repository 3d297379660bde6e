package kubelet

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"
	"k8s.io/kubernetes/pkg/kubelet/envvars"
)

// objectReader is what env and volumes read from the API.
type objectReader interface {
	configMap(ctx context.Context, ns, name string) (*v1.ConfigMap, error)
	secret(ctx context.Context, ns, name string) (*v1.Secret, error)
}

// podFacts are what the downward API tells about a pod beyond its spec and
// metadata.
type podFacts struct {
	podIP       string
	hostIP      string
	allocatable v1.ResourceList // the node's, for resources without a limit
	// serviceEnv are the service variables (serviceEnvVars), which
	// env's values may refer to and which the container gets unless it
	// sets them itself.
	serviceEnv []envVar
}

// envVar is one resolved variable.
type envVar struct{ Name, Value string }

// makeEnv resolves the container's environment as the kubelet's
// makeEnvironmentVariables does: envFrom first (a prefix each), then env in
// order, overriding; a value expands $(VAR) references to the variables so
// far; valueFrom reads ConfigMaps, Secrets, the pod's fields and the
// container's resources; the service variables (facts.serviceEnv) come
// last, unless set already, as upstream appends them. A missing ConfigMap, Secret or key that is not
// optional is an error with upstream's message, which keeps the container
// from starting (CreateContainerConfigError). Unlike upstream, whose map
// leaves the order to chance, the result is envFrom's keys sorted, then
// env's in their order.
func makeEnv(ctx context.Context, objs objectReader, pod *v1.Pod, c *v1.Container, facts podFacts) ([]envVar, error) {
	var (
		configMaps = map[string]*v1.ConfigMap{}
		secrets    = map[string]*v1.Secret{}
		vals       = map[string]string{}
		order      []string
	)
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	getConfigMap := func(name string) (*v1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		if objs == nil {
			return nil, fmt.Errorf("couldn't get configMap %v/%v, no kubeClient defined", pod.Namespace, name)
		}
		cm, err := objs.configMap(ctx, pod.Namespace, name)
		if err != nil {
			return nil, err
		}
		configMaps[name] = cm
		return cm, nil
	}
	getSecret := func(name string) (*v1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		if objs == nil {
			return nil, fmt.Errorf("couldn't get secret %v/%v, no kubeClient defined", pod.Namespace, name)
		}
		s, err := objs.secret(ctx, pod.Namespace, name)
		if err != nil {
			return nil, err
		}
		secrets[name] = s
		return s, nil
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := getConfigMap(from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := getSecret(from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			data = make(map[string]string, len(s.Data))
			for k, v := range s.Data {
				data[k] = string(v)
			}
		default:
			continue
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		val := e.Value
		switch {
		case val != "":
			val = expandVars(val, func(name string) (string, bool) {
				if v, ok := vals[name]; ok {
					return v, ok
				}
				for _, e := range facts.serviceEnv {
					if e.Name == name {
						return e.Value, true
					}
				}
				return "", false
			})
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			v, err := podFieldValue(pod, e.ValueFrom.FieldRef.FieldPath, facts)
			if err != nil {
				return nil, err
			}
			val = v
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceFieldValue(pod, c, e.ValueFrom.ResourceFieldRef, facts.allocatable)
			if err != nil {
				return nil, err
			}
			val = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			optional := isTrue(ref.Optional)
			cm, err := getConfigMap(ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, err
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, pod.Namespace, ref.Name)
			}
			val = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			optional := isTrue(ref.Optional)
			s, err := getSecret(ref.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional {
					continue
				}
				return nil, err
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if optional {
					continue
				}
				return nil, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, pod.Namespace, ref.Name)
			}
			val = string(v)
		}
		set(e.Name, val)
	}
	out := make([]envVar, 0, len(order)+len(facts.serviceEnv))
	for _, k := range order {
		out = append(out, envVar{k, vals[k]})
	}
	for _, e := range facts.serviceEnv {
		if _, ok := vals[e.Name]; !ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// masterServices are the default namespace's Services whose variables
// every container gets, as the kubelet's.
var masterServices = sets.New("kubernetes")

// serviceEnvVars are the service variables of a container in namespace
// ns, chosen as the kubelet's getServiceEnvVarMap chooses: of the Services
// with a cluster IP (not None), the default namespace's master Services
// always, and all of ns's when enableServiceLinks; a Service of ns hides
// the master Service of its name. The variables are the kubelet's own
// (envvars.FromServices: NAME_SERVICE_HOST, _SERVICE_PORT, a
// _SERVICE_PORT_<PORT> per named port, the Docker link variables
// NAME_PORT=tcp://…), by Service name, each name once, where upstream
// fills a map.
func serviceEnvVars(ns string, enableServiceLinks bool, services []*v1.Service) []envVar {
	byName := map[string]*v1.Service{}
	for _, svc := range services {
		if !v1helper.IsServiceIPSet(svc) {
			continue
		}
		switch {
		case svc.Namespace == metav1.NamespaceDefault && masterServices.Has(svc.Name):
			if _, ok := byName[svc.Name]; !ok {
				byName[svc.Name] = svc
			}
		case svc.Namespace == ns && enableServiceLinks:
			byName[svc.Name] = svc
		}
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	chosen := make([]*v1.Service, 0, len(names))
	for _, name := range names {
		chosen = append(chosen, byName[name])
	}
	var out []envVar
	at := map[string]int{}
	for _, e := range envvars.FromServices(chosen) {
		if i, ok := at[e.Name]; ok {
			out[i].Value = e.Value
			continue
		}
		at[e.Name] = len(out)
		out = append(out, envVar{e.Name, e.Value})
	}
	return out
}

func isTrue(b *bool) bool { return b != nil && *b }

// envLookup turns resolved variables into a lookup for expandVars.
func envLookup(env []envVar) func(string) (string, bool) {
	m := make(map[string]string, len(env))
	for _, e := range env {
		m[e.Name] = e.Value
	}
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// expandVars replaces $(VAR) with VAR's value as Kubernetes' expansion
// package does: $$ is a literal $, an unknown $(VAR) stays as written, an
// unclosed $( is kept.
func expandVars(in string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	checkpoint := 0
	for cursor := 0; cursor < len(in); cursor++ {
		if in[cursor] != '$' || cursor+1 >= len(in) {
			continue
		}
		b.WriteString(in[checkpoint:cursor])
		rest := in[cursor+1:]
		advance := 1
		switch rest[0] {
		case '$':
			b.WriteByte('$')
		case '(':
			end := strings.IndexByte(rest, ')')
			if end < 0 {
				b.WriteString("$(")
				break
			}
			name := rest[1:end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			advance = end + 1
		default:
			b.WriteByte('$')
			b.WriteByte(rest[0])
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	return b.String() + in[checkpoint:]
}

// podFieldValue is the value of a downward API fieldRef, as the kubelet's
// podFieldSelectorRuntimeValue and fieldpath.ExtractFieldPathAsString give
// it.
func podFieldValue(pod *v1.Pod, fieldPath string, facts podFacts) (string, error) {
	switch fieldPath {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return facts.hostIP, nil
	case "status.podIP", "status.podIPs":
		return facts.podIP, nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	}
	if path, key, ok := splitSubscript(fieldPath); ok {
		switch path {
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", fieldPath, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		}
		return "", fmt.Errorf("fieldPath %q does not support subscript", fieldPath)
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", fieldPath)
}

// splitSubscript splits metadata.labels['k'] into metadata.labels and k.
func splitSubscript(fieldPath string) (string, string, bool) {
	s, ok := strings.CutSuffix(fieldPath, "']")
	if !ok {
		return fieldPath, "", false
	}
	path, key, ok := strings.Cut(s, "['")
	if !ok || path == "" {
		return fieldPath, "", false
	}
	return path, key, true
}

// formatMap is fieldpath.FormatMap: sorted k="v" lines.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = strconv.AppendQuote(b, m[k])
	}
	return string(b)
}

// resourceFieldValue is a resourceFieldRef's value for container c (or the
// container it names): the limit or request divided by the divisor,
// rounded up; a container without a cpu, memory or ephemeral-storage limit
// has the node's allocatable as its limit.
func resourceFieldValue(pod *v1.Pod, c *v1.Container, fs *v1.ResourceFieldSelector, allocatable v1.ResourceList) (string, error) {
	if fs.ContainerName != "" && fs.ContainerName != c.Name {
		c = findContainer(pod, fs.ContainerName)
		if c == nil {
			return "", fmt.Errorf("container %s not found", fs.ContainerName)
		}
	}
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(fs.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
	}
	res := v1.ResourceName(name)
	switch res {
	case v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage:
	default:
		if !strings.HasPrefix(name, v1.ResourceHugePagesPrefix) {
			return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
		}
	}
	list := c.Resources.Requests
	if kind == "limits" {
		list = c.Resources.Limits
	}
	q, ok := list[res]
	if !ok && kind == "limits" && !strings.HasPrefix(name, v1.ResourceHugePagesPrefix) {
		q = allocatable[res]
	}
	if res == v1.ResourceCPU {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}
