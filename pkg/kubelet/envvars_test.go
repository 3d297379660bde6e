package kubelet

import (
	"context"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func envPod(env []v1.EnvVar, from []v1.EnvFromSource, res v1.ResourceRequirements) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1",
			Labels: map[string]string{"app": "web", "tier": "front"}, Annotations: map[string]string{"note": `say "hi"`}},
		Spec: v1.PodSpec{NodeName: "n1", ServiceAccountName: "sa",
			Containers: []v1.Container{{Name: "c", Image: "img", Env: env, EnvFrom: from, Resources: res}}},
	}
}

func ptrBool(b bool) *bool { return &b }

func cmKey(name, key string, optional bool) *v1.EnvVarSource {
	return &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: name}, Key: key, Optional: ptrBool(optional)}}
}

func secretKey(name, key string, optional bool) *v1.EnvVarSource {
	return &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: name}, Key: key, Optional: ptrBool(optional)}}
}

func field(path string) *v1.EnvVarSource {
	return &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: path}}
}

func resField(res, divisor string) *v1.EnvVarSource {
	s := &v1.ResourceFieldSelector{Resource: res}
	if divisor != "" {
		s.Divisor = resource.MustParse(divisor)
	}
	return &v1.EnvVarSource{ResourceFieldRef: s}
}

func TestMakeEnv(t *testing.T) {
	client := fake.NewSimpleClientset(
		&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "default"}, Data: map[string]string{"FOO": "foo", "BAR": "bar", "1bad": "kept"}},
		&v1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "default"}, Data: map[string][]byte{"PASS": []byte("s3cret")}},
	)
	objs := fakeObjects(client)
	facts := podFacts{podIP: "10.244.1.5", hostIP: "10.200.0.11", allocatable: testAllocatable}
	limits := v1.ResourceRequirements{
		Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("64Mi")},
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("32Mi")},
	}
	for _, tt := range []struct {
		name    string
		env     []v1.EnvVar
		from    []v1.EnvFromSource
		res     v1.ResourceRequirements
		want    string // NAME=value lines
		wantErr string
	}{
		{
			name: "values and expansion",
			env:  []v1.EnvVar{{Name: "A", Value: "a"}, {Name: "B", Value: "$(A)-b"}, {Name: "C", Value: "$$(A) $(NOPE) $(A"}},
			want: "A=a\nB=a-b\nC=$(A) $(NOPE) $(A",
		},
		{
			name: "configMapKeyRef and secretKeyRef",
			env:  []v1.EnvVar{{Name: "F", ValueFrom: cmKey("cfg", "FOO", false)}, {Name: "P", ValueFrom: secretKey("sec", "PASS", false)}, {Name: "X", Value: "$(F):$(P)"}},
			want: "F=foo\nP=s3cret\nX=foo:s3cret",
		},
		{
			name:    "missing configmap",
			env:     []v1.EnvVar{{Name: "F", ValueFrom: cmKey("nope", "FOO", false)}},
			wantErr: `configmap "nope" not found`,
		},
		{
			name:    "missing key in configmap",
			env:     []v1.EnvVar{{Name: "F", ValueFrom: cmKey("cfg", "NOKEY", false)}},
			wantErr: "couldn't find key NOKEY in ConfigMap default/cfg",
		},
		{
			name:    "missing secret",
			env:     []v1.EnvVar{{Name: "P", ValueFrom: secretKey("nope", "PASS", false)}},
			wantErr: `secret "nope" not found`,
		},
		{
			name:    "missing key in secret",
			env:     []v1.EnvVar{{Name: "P", ValueFrom: secretKey("sec", "NOKEY", false)}},
			wantErr: "couldn't find key NOKEY in Secret default/sec",
		},
		{
			name: "optional refs that are missing are left out",
			env: []v1.EnvVar{{Name: "A", ValueFrom: cmKey("nope", "FOO", true)}, {Name: "B", ValueFrom: cmKey("cfg", "NOKEY", true)},
				{Name: "C", ValueFrom: secretKey("nope", "X", true)}, {Name: "D", ValueFrom: secretKey("sec", "NOKEY", true)}, {Name: "E", Value: "e"}},
			want: "E=e",
		},
		{
			name: "envFrom with prefix, env overrides",
			from: []v1.EnvFromSource{
				{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "cfg"}}},
				{Prefix: "S_", SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "sec"}}},
				{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}, Optional: ptrBool(true)}},
			},
			env:  []v1.EnvVar{{Name: "FOO", Value: "over-$(BAR)"}},
			want: "1bad=kept\nBAR=bar\nFOO=over-bar\nS_PASS=s3cret",
		},
		{
			name:    "envFrom of a missing configmap",
			from:    []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "gone"}}}},
			wantErr: `configmap "gone" not found`,
		},
		{
			name: "downward fieldRefs",
			env: []v1.EnvVar{
				{Name: "NAME", ValueFrom: field("metadata.name")}, {Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")}, {Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "NOTE", ValueFrom: field("metadata.annotations['note']")}, {Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "SA", ValueFrom: field("spec.serviceAccountName")}, {Name: "HOST", ValueFrom: field("status.hostIP")},
				{Name: "HOSTS", ValueFrom: field("status.hostIPs")}, {Name: "IP", ValueFrom: field("status.podIP")},
				{Name: "IPS", ValueFrom: field("status.podIPs")}, {Name: "LABELS", ValueFrom: field("metadata.labels")},
			},
			want: "NAME=p\nNS=default\nUID=uid-1\nAPP=web\nNOTE=say \"hi\"\nNODE=n1\nSA=sa\nHOST=10.200.0.11\nHOSTS=10.200.0.11\nIP=10.244.1.5\nIPS=10.244.1.5\nLABELS=app=\"web\"\ntier=\"front\"",
		},
		{
			name:    "unsupported fieldRef",
			env:     []v1.EnvVar{{Name: "X", ValueFrom: field("spec.schedulerName")}},
			wantErr: "unsupported fieldPath: spec.schedulerName",
		},
		{
			name: "resourceFieldRef with divisors",
			res:  limits,
			env: []v1.EnvVar{
				{Name: "CPU", ValueFrom: resField("limits.cpu", "")}, {Name: "CPU_M", ValueFrom: resField("limits.cpu", "1m")},
				{Name: "REQ_CPU_M", ValueFrom: resField("requests.cpu", "1m")}, {Name: "MEM_MI", ValueFrom: resField("limits.memory", "1Mi")},
				{Name: "REQ_MEM", ValueFrom: resField("requests.memory", "")},
			},
			want: "CPU=1\nCPU_M=250\nREQ_CPU_M=100\nMEM_MI=64\nREQ_MEM=33554432",
		},
		{
			name: "no limit: the node's allocatable",
			env:  []v1.EnvVar{{Name: "CPU", ValueFrom: resField("limits.cpu", "")}, {Name: "MEM", ValueFrom: resField("limits.memory", "1Gi")}},
			want: "CPU=2\nMEM=4",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := envPod(tt.env, tt.from, tt.res)
			got, err := makeEnv(context.Background(), objs, pod, &pod.Spec.Containers[0], facts)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, e := range got {
				lines = append(lines, e.Name+"="+e.Value)
			}
			if s := strings.Join(lines, "\n"); s != tt.want {
				t.Errorf("env =\n%s\nwant\n%s", s, tt.want)
			}
		})
	}
}

func TestExpandVars(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"plain":        "plain",
		"$(A)":         "a",
		"x$(A)y$(A)":   "xaya",
		"$$(A)":        "$(A)",
		"$$$(A)":       "$a",
		"$(B)":         "$(B)",
		"$(A":          "$(A",
		"$":            "$",
		"a$b":          "a$b",
		"$(EMPTY)-":    "-",
		"$()":          "$()",
		"end$":         "end$",
		"$(A)$(A)$$$$": "aa$$",
	} {
		if got := expandVars(in, lookup); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}
