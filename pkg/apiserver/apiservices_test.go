package apiserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"minik8s/pkg/apiserver/apiservertest"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/helper"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
)

// The server's own group/versions are local APIServices, Available, as
// kube-apiserver's autoregister controller makes them; others are stored
// with kube-aggregator's validation; discovery lists apiregistration.k8s.io.
func TestAPIServices(t *testing.T) {
	s := apiservertest.Start(t)
	ac, err := aggregator.NewForConfig(s.Config)
	if err != nil {
		t.Fatal(err)
	}
	apiServices := ac.ApiregistrationV1().APIServices()
	ctx := context.Background()

	t.Run("discovery", func(t *testing.T) {
		dc, err := discovery.NewDiscoveryClientForConfig(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		list, err := dc.ServerResourcesForGroupVersion("apiregistration.k8s.io/v1")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range list.APIResources {
			got = append(got, r.Name)
		}
		if len(got) != 2 || got[0] != "apiservices" || got[1] != "apiservices/status" {
			t.Fatalf("got resources %v, want [apiservices apiservices/status]", got)
		}
	})

	t.Run("local APIServices", func(t *testing.T) {
		tests := []struct {
			name                           string
			group, version                 string
			groupPriority, versionPriority int32
		}{
			{"v1.", "", "v1", 18000, 1},
			{"v1.apps", "apps", "v1", 17800, 15},
			{"v2.autoscaling", "autoscaling", "v2", 17500, 30},
			{"v1.apiregistration.k8s.io", "", "", 0, 0}, // none upstream either
			{"v1.metrics.k8s.io", "", "", 0, 0},
		}
		for _, tt := range tests {
			got, err := apiServices.Get(ctx, tt.name, metav1.GetOptions{})
			if tt.group == "" && tt.version == "" {
				if !apierrors.IsNotFound(err) {
					t.Errorf("%s: got %v, want NotFound", tt.name, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			if got.Spec.Service != nil || got.Spec.Group != tt.group || got.Spec.Version != tt.version || got.Spec.GroupPriorityMinimum != tt.groupPriority || got.Spec.VersionPriority != tt.versionPriority {
				t.Errorf("%s: got spec %+v, want local %s/%s with priorities %d, %d", tt.name, got.Spec, tt.group, tt.version, tt.groupPriority, tt.versionPriority)
			}
			if !helper.IsAPIServiceConditionTrue(got, apiregistrationv1.Available) {
				t.Errorf("%s: got conditions %+v, want Available", tt.name, got.Status.Conditions)
			}
		}
	})

	t.Run("table", func(t *testing.T) {
		req, err := http.NewRequest("GET", s.URL+"/apis/apiregistration.k8s.io/v1/apiservices/v1.apps", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		resp, err := s.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var table metav1.Table
		if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
			t.Fatal(err)
		}
		var cols []string
		for _, c := range table.ColumnDefinitions {
			cols = append(cols, c.Name)
		}
		if fmt.Sprint(cols) != "[Name Service Available Age]" || len(table.Rows) != 1 || fmt.Sprint(table.Rows[0].Cells[:3]) != "[v1.apps Local True]" {
			t.Fatalf("got columns %v, rows %+v, want kubectl's Name, Service, Available, Age and v1.apps Local True", cols, table.Rows)
		}
	})

	t.Run("create, list, delete", func(t *testing.T) {
		port := int32(443)
		svc := &apiregistrationv1.APIService{
			ObjectMeta: metav1.ObjectMeta{Name: "v1alpha1.wardle.example.com"},
			Spec: apiregistrationv1.APIServiceSpec{
				Group: "wardle.example.com", Version: "v1alpha1",
				Service:              &apiregistrationv1.ServiceReference{Namespace: "default", Name: "sample-api", Port: &port},
				GroupPriorityMinimum: 2000, VersionPriority: 200,
				InsecureSkipTLSVerify: true,
			},
		}
		created, err := apiServices.Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if helper.IsAPIServiceConditionTrue(created, apiregistrationv1.Available) {
			t.Errorf("an APIService with a service got Available on create: %+v", created.Status)
		}
		list, err := apiServices.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=v1alpha1.wardle.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) != 1 {
			t.Fatalf("got %d APIServices listed by name, want 1", len(list.Items))
		}
		if err := apiServices.Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := apiServices.Get(ctx, svc.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("after delete: got %v, want NotFound", err)
		}
	})

	t.Run("validation", func(t *testing.T) {
		tests := []struct {
			name      string
			svc       apiregistrationv1.APIService
			wantField string
		}{
			{"name not version.group", apiregistrationv1.APIService{
				ObjectMeta: metav1.ObjectMeta{Name: "wardle"},
				Spec:       apiregistrationv1.APIServiceSpec{Group: "wardle.example.com", Version: "v1", GroupPriorityMinimum: 100, VersionPriority: 10},
			}, "metadata.name"},
			{"group priority out of range", apiregistrationv1.APIService{
				ObjectMeta: metav1.ObjectMeta{Name: "v1.wardle.example.com"},
				Spec:       apiregistrationv1.APIServiceSpec{Group: "wardle.example.com", Version: "v1", GroupPriorityMinimum: 20001, VersionPriority: 10},
			}, "spec.groupPriorityMinimum"},
			{"local with a caBundle", apiregistrationv1.APIService{
				ObjectMeta: metav1.ObjectMeta{Name: "v1.wardle.example.com"},
				Spec:       apiregistrationv1.APIServiceSpec{Group: "wardle.example.com", Version: "v1", GroupPriorityMinimum: 100, VersionPriority: 10, CABundle: []byte("x")},
			}, "spec.caBundle"},
		}
		for _, tt := range tests {
			_, err := apiServices.Create(ctx, &tt.svc, metav1.CreateOptions{})
			if !apierrors.IsInvalid(err) {
				t.Errorf("%s: got %v, want Invalid", tt.name, err)
				continue
			}
			causes := err.(apierrors.APIStatus).Status().Details.Causes
			if len(causes) == 0 || causes[0].Field != tt.wantField {
				t.Errorf("%s: got causes %+v, want one on %s", tt.name, causes, tt.wantField)
			}
		}
	})
}
