package apiserver_test

import (
	"context"
	"strings"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	rbacv1 "k8s.io/api/rbac/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// Upstream's ResourceClaim CRUD conformance spec in small: the status
// (an empty allocation) written by update and by each patch type, which
// the status strategy lets through only with resourceclaims/binding
// permission, asked of the server's authorizer.
func TestResourceClaimStatusCRUD(t *testing.T) {
	s := apiservertest.Start(t)
	cs := clientset(t, s)
	ctx := context.Background()
	claims := cs.ResourceV1().ResourceClaims("default")
	claim := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
			Name: "req-0", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: "dra.example.com"}}}}}}
	create := func(t *testing.T) *resourceapi.ResourceClaim {
		t.Helper()
		_ = claims.Delete(ctx, claim.Name, metav1.DeleteOptions{})
		got, err := claims.Create(ctx, claim, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got.Labels = map[string]string{"test.dra.example.com": "test"}
		if got, err = claims.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("update status", func(t *testing.T) {
		got := create(t)
		got.Status.Allocation = &resourceapi.AllocationResult{}
		got, err := claims.UpdateStatus(ctx, got, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allocation == nil {
			t.Errorf("status after update: %+v, want an allocation", got.Status)
		}
	})
	for _, tt := range []struct {
		typ   types.PatchType
		patch string
	}{
		{types.StrategicMergePatchType, `{"status": {"allocation": {}}}`},
		{types.ApplyYAMLPatchType, `{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","metadata":{"name":"c"},"status": {"allocation": {}}}`},
		{types.MergePatchType, `{"status": {"allocation": {}}}`},
		{types.JSONPatchType, `[{"op": "add", "path": "/status/allocation", "value": {}}]`},
	} {
		t.Run("patch status "+string(tt.typ), func(t *testing.T) {
			create(t)
			opts := metav1.PatchOptions{FieldValidation: "Strict"}
			if tt.typ == types.ApplyYAMLPatchType {
				opts.FieldManager, opts.Force = "test-apply", ptr.To(true)
			}
			got, err := claims.Patch(ctx, claim.Name, tt.typ, []byte(tt.patch), opts, "status")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Allocation == nil || got.Labels["test.dra.example.com"] != "test" {
				t.Errorf("after the patch: labels %v, status %+v", got.Labels, got.Status)
			}
			if tt.typ != types.ApplyYAMLPatchType {
				return
			}
			var applied *metav1.ManagedFieldsEntry
			for i, e := range got.ManagedFields {
				if e.Manager == "test-apply" {
					applied = &got.ManagedFields[i]
				}
			}
			if applied == nil || applied.Subresource != "status" || applied.Operation != metav1.ManagedFieldsOperationApply ||
				!strings.Contains(string(applied.FieldsV1.Raw), `"f:allocation"`) || strings.Contains(string(applied.FieldsV1.Raw), `"f:spec"`) {
				t.Errorf("managedFields %+v, want test-apply's Apply of status.allocation on the status subresource", got.ManagedFields)
			}
		})
	}
	t.Run("apply status of a missing claim", func(t *testing.T) {
		_, err := claims.Patch(ctx, "missing", types.ApplyYAMLPatchType,
			[]byte(`{"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","metadata":{"name":"missing"},"status":{"allocation":{}}}`),
			metav1.PatchOptions{FieldManager: "test-apply"}, "status")
		if !apierrors.IsNotFound(err) {
			t.Fatalf("got %v, want 404", err)
		}
	})
}

// A status write that changes status.allocation needs update on the
// resourceclaims/binding subresource beside resourceclaims/status, as
// upstream's status strategy asks the authorizer.
func TestResourceClaimAllocationNeedsBinding(t *testing.T) {
	s := startRBAC(t)
	ctx := context.Background()
	claim := &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "default"},
		Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{{
			Name: "req-0", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: "dra.example.com"}}}}}}
	if _, err := s.admin.ResourceV1().ResourceClaims("default").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.create(t,
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "claim-status"}, Rules: []rbacv1.PolicyRule{
			rule([]string{"get", "update"}, resourceapi.GroupName, "resourceclaims", "resourceclaims/status")}},
		clusterRoleBinding("claim-status", "claim-status", userSubject("writer")),
	)
	s.settle(t)
	claims := s.as("writer").ResourceV1().ResourceClaims("default")
	allocate := func() error {
		got, err := claims.Get(ctx, "c", metav1.GetOptions{})
		if err != nil {
			return err
		}
		got.Status.Allocation = &resourceapi.AllocationResult{}
		_, err = claims.UpdateStatus(ctx, got, metav1.UpdateOptions{})
		return err
	}
	if err := allocate(); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), `resource="resourceclaims/binding"`) {
		t.Fatalf("without binding: got %v, want 422 naming resourceclaims/binding", err)
	}
	s.create(t,
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "claim-binding"}, Rules: []rbacv1.PolicyRule{
			rule([]string{"update"}, resourceapi.GroupName, "resourceclaims/binding")}},
		clusterRoleBinding("claim-binding", "claim-binding", userSubject("writer")),
	)
	s.settle(t)
	if err := allocate(); err != nil {
		t.Fatalf("with binding: %v", err)
	}
}
