package api

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ctx is the context the strategies are called with in these tests.
var ctx = context.Background()

// wantErr names one expected validation error by type and field path.
type wantErr struct {
	typ  field.ErrorType
	path string
}

func (w wantErr) String() string { return fmt.Sprintf("%s %s", w.typ, w.path) }

// checkErrs asserts that got holds exactly the errors of want, in any order.
func checkErrs(t *testing.T, got field.ErrorList, want ...wantErr) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, wantErr{e.Type, e.Field}.String())
	}
	for _, e := range want {
		w = append(w, e.String())
	}
	sort.Strings(g)
	sort.Strings(w)
	if strings.Join(g, "\n") != strings.Join(w, "\n") {
		t.Errorf("got errors:\n  %s\nwant:\n  %s\n(full: %v)", strings.Join(g, "\n  "), strings.Join(w, "\n  "), got)
	}
}

func invalid(path string) wantErr   { return wantErr{field.ErrorTypeInvalid, path} }
func required(path string) wantErr  { return wantErr{field.ErrorTypeRequired, path} }
func duplicate(path string) wantErr { return wantErr{field.ErrorTypeDuplicate, path} }
func forbidden(path string) wantErr { return wantErr{field.ErrorTypeForbidden, path} }
func notFound(path string) wantErr  { return wantErr{field.ErrorTypeNotFound, path} }
func notSupported(path string) wantErr {
	return wantErr{field.ErrorTypeNotSupported, path}
}

// newPod is a valid pod before defaulting.
func newPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "minik8s/echo:1.0",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}
}

// defaultedPod is newPod after mutate, defaulted as the server would.
func defaultedPod(mutate func(*corev1.Pod)) *corev1.Pod {
	p := newPod()
	if mutate != nil {
		mutate(p)
	}
	podStrategy.Default(p)
	return p
}

func newDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       newPod().Spec,
			},
		},
	}
}

func newReplicaSet() *appsv1.ReplicaSet {
	d := newDeployment()
	return &appsv1.ReplicaSet{
		ObjectMeta: d.ObjectMeta,
		Spec: appsv1.ReplicaSetSpec{
			Selector: d.Spec.Selector,
			Template: d.Spec.Template,
		},
	}
}

func newService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80}},
		},
	}
}

// stored gives obj the fields storage sets, so it can be an update's old
// object.
func stored[T interface{ GetObjectMeta() metav1.Object }](obj T) T {
	m := obj.GetObjectMeta()
	m.SetResourceVersion("7")
	m.SetUID("uid-1")
	m.SetCreationTimestamp(metav1.Unix(1000, 0))
	return obj
}
