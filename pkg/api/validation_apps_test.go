package api

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestValidateDeployment(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.Deployment)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*appsv1.Deployment) {}},
		{name: "valid zero replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(0)) }},
		{name: "valid set-based selector", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web", "api"}}}}
		}},
		{name: "valid Recreate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}},
		{name: "negative replicas", mutate: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To(int32(-1)) }, want: []wantErr{invalid("spec.replicas")}},
		{name: "selector required", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = nil }, want: []wantErr{required("spec.selector")}},
		{name: "empty selector", mutate: func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }, want: []wantErr{invalid("spec.selector")}},
		{name: "selector does not match template", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Labels = map[string]string{"app": "other"}
		}, want: []wantErr{invalid("spec.template.metadata.labels")}},
		{name: "bad selector operator", mutate: func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}
		}, want: []wantErr{invalid("spec.selector.matchExpressions[0].operator"), invalid("spec.selector")}},
		{name: "bad template label", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Labels["bad key"] = "x"
		}, want: []wantErr{invalid("spec.template.metadata.labels")}},
		{name: "template container without image", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = ""
		}, want: []wantErr{required("spec.template.spec.containers[0].image")}},
		{name: "template duplicate containers", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, d.Spec.Template.Spec.Containers[0])
		}, want: []wantErr{duplicate("spec.template.spec.containers[1].name")}},
		{name: "template restartPolicy must be Always", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
		}, want: []wantErr{notSupported("spec.template.spec.restartPolicy")}},
		{name: "template activeDeadlineSeconds", mutate: func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr.To(int64(10))
		}, want: []wantErr{forbidden("spec.template.spec.activeDeadlineSeconds")}},
		{name: "maxSurge and maxUnavailable both 0", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(0)), MaxUnavailable: ptr.To(intstr.FromString("0%"))}
		}, want: []wantErr{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{name: "maxUnavailable over 100%", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr.To(intstr.FromString("150%"))}
		}, want: []wantErr{invalid("spec.strategy.rollingUpdate.maxUnavailable")}},
		{name: "maxSurge not a percent", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromString("half"))}
		}, want: []wantErr{invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "negative maxSurge", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.FromInt32(-1))}
		}, want: []wantErr{invalid("spec.strategy.rollingUpdate.maxSurge")}},
		{name: "Recreate with rollingUpdate", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}, want: []wantErr{forbidden("spec.strategy.rollingUpdate")}},
		{name: "strategy type unknown", mutate: func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: "BlueGreen"}
		}, want: []wantErr{notSupported("spec.strategy.type")}},
		{name: "negative revisionHistoryLimit", mutate: func(d *appsv1.Deployment) { d.Spec.RevisionHistoryLimit = ptr.To(int32(-1)) }, want: []wantErr{invalid("spec.revisionHistoryLimit")}},
		{name: "progressDeadlineSeconds not above minReadySeconds", mutate: func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}, want: []wantErr{invalid("spec.progressDeadlineSeconds")}},
		{name: "bad name", mutate: func(d *appsv1.Deployment) { d.Name = "Web" }, want: []wantErr{invalid("metadata.name")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDeployment()
			tt.mutate(d)
			deploymentStrategy.Default(d)
			checkErrs(t, deploymentStrategy.Validate(ctx, d), tt.want...)
		})
	}
}

func TestValidateDeploymentUpdate(t *testing.T) {
	old := newDeployment()
	deploymentStrategy.Default(old)
	stored(old)

	scaled := old.DeepCopy()
	scaled.Spec.Replicas = ptr.To(int32(5))
	scaled.Spec.Template.Spec.Containers[0].Image = "minik8s/echo:2.0"
	checkErrs(t, deploymentStrategy.ValidateUpdate(ctx, scaled, old))

	reselected := old.DeepCopy()
	reselected.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"}}
	reselected.Spec.Template.Labels["tier"] = "front"
	checkErrs(t, deploymentStrategy.ValidateUpdate(ctx, reselected, old), invalid("spec.selector"))
}

func TestValidateDeploymentStatus(t *testing.T) {
	old := newDeployment()
	deploymentStrategy.Default(old)
	stored(old)
	d := old.DeepCopy()
	d.Status = appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, UpdatedReplicas: 2}
	checkErrs(t, deploymentStrategy.ValidateStatusUpdate(ctx, d, old))
	d.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1, AvailableReplicas: 2, UpdatedReplicas: -1}
	checkErrs(t, deploymentStrategy.ValidateStatusUpdate(ctx, d, old),
		invalid("status.updatedReplicas"), invalid("status.availableReplicas"), invalid("status.availableReplicas"))
}

func TestValidateReplicaSet(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*appsv1.ReplicaSet)
		want   []wantErr
	}{
		{name: "valid", mutate: func(*appsv1.ReplicaSet) {}},
		{name: "negative replicas", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Replicas = ptr.To(int32(-3)) }, want: []wantErr{invalid("spec.replicas")}},
		{name: "selector required", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }, want: []wantErr{required("spec.selector")}},
		{name: "selector must match", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Labels = nil }, want: []wantErr{invalid("spec.template.metadata.labels")}},
		{name: "template needs a container", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.Containers = nil }, want: []wantErr{required("spec.template.spec.containers")}},
		{name: "negative minReadySeconds", mutate: func(rs *appsv1.ReplicaSet) { rs.Spec.MinReadySeconds = -1 }, want: []wantErr{invalid("spec.minReadySeconds")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newReplicaSet()
			tt.mutate(rs)
			replicaSetStrategy.Default(rs)
			checkErrs(t, replicaSetStrategy.Validate(ctx, rs), tt.want...)
		})
	}

	old := newReplicaSet()
	replicaSetStrategy.Default(old)
	stored(old)
	upd := old.DeepCopy()
	upd.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "abc"}}
	upd.Spec.Template.Labels["pod-template-hash"] = "abc"
	checkErrs(t, replicaSetStrategy.ValidateUpdate(ctx, upd, old), invalid("spec.selector"))

	st := old.DeepCopy()
	st.Status = appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1}
	checkErrs(t, replicaSetStrategy.ValidateStatusUpdate(ctx, st, old), invalid("status.fullyLabeledReplicas"))
}
