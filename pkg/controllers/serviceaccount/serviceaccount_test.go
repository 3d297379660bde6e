package serviceaccount

import (
	"context"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

func namespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
	if phase == corev1.NamespaceTerminating {
		now := metav1.NewTime(time.Now())
		ns.DeletionTimestamp = &now
	}
	return ns
}

func serviceAccount(ns, name string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

var saResource = schema.GroupResource{Resource: "serviceaccounts"}

func terminatingError() error {
	err := apierrors.NewForbidden(saResource, Default, errors.New("unable to create new content in namespace team because it is being terminated"))
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: corev1.NamespaceTerminatingCause})
	return err
}

func TestSync(t *testing.T) {
	tests := []struct {
		name string
		// cached is what the informers hold; the fake API holds it too
		// unless apiOnly adds more (a cache that is behind).
		cached    []runtime.Object
		apiOnly   []runtime.Object
		createErr error
		wantErr   bool
		// wantCreate: a create of team/default was sent.
		wantCreate bool
	}{
		{
			name:       "namespace without ServiceAccount gets default",
			cached:     []runtime.Object{namespace("team", corev1.NamespaceActive)},
			wantCreate: true,
		},
		{
			name:       "another ServiceAccount is not the default one",
			cached:     []runtime.Object{namespace("team", corev1.NamespaceActive), serviceAccount("team", "builder")},
			wantCreate: true,
		},
		{
			name:       "default of another namespace does not count",
			cached:     []runtime.Object{namespace("team", corev1.NamespaceActive), serviceAccount("other", Default)},
			wantCreate: true,
		},
		{
			name:   "default exists: no write",
			cached: []runtime.Object{namespace("team", corev1.NamespaceActive), serviceAccount("team", Default)},
		},
		{
			name:   "terminating namespace: nothing",
			cached: []runtime.Object{namespace("team", corev1.NamespaceTerminating)},
		},
		{
			name: "namespace gone: nothing",
		},
		{
			name:       "cache behind: AlreadyExists is success",
			cached:     []runtime.Object{namespace("team", corev1.NamespaceActive)},
			apiOnly:    []runtime.Object{serviceAccount("team", Default)},
			wantCreate: true,
		},
		{
			name:       "namespace began terminating since the cache saw it",
			cached:     []runtime.Object{namespace("team", corev1.NamespaceActive)},
			createErr:  terminatingError(),
			wantCreate: true,
		},
		{
			name:       "server error is retried",
			cached:     []runtime.Object{namespace("team", corev1.NamespaceActive)},
			createErr:  apierrors.NewServiceUnavailable("etcd is down"),
			wantCreate: true,
			wantErr:    true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset(append(append([]runtime.Object{}, tt.cached...), tt.apiOnly...)...)
			if tt.createErr != nil {
				client.PrependReactor("create", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, tt.createErr
				})
			}
			f := informers.NewSharedInformerFactory(client, 0)
			c := New(client, f)
			for _, o := range tt.cached {
				var err error
				switch o := o.(type) {
				case *corev1.Namespace:
					err = f.Core().V1().Namespaces().Informer().GetIndexer().Add(o)
				case *corev1.ServiceAccount:
					err = f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(o)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			client.ClearActions()

			err := c.sync(context.Background(), "team")
			if (err != nil) != tt.wantErr {
				t.Fatalf("sync: got error %v, want error %v", err, tt.wantErr)
			}
			var creates []*corev1.ServiceAccount
			for _, a := range client.Actions() {
				switch a := a.(type) {
				case k8stesting.CreateAction:
					creates = append(creates, a.GetObject().(*corev1.ServiceAccount))
				case k8stesting.UpdateAction, k8stesting.DeleteAction, k8stesting.PatchAction:
					t.Errorf("unexpected %s of %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
			if !tt.wantCreate {
				if len(creates) != 0 {
					t.Errorf("got %d creates, want none", len(creates))
				}
				return
			}
			if len(creates) != 1 {
				t.Fatalf("got %d creates, want 1", len(creates))
			}
			if got := creates[0]; got.Namespace != "team" || got.Name != Default {
				t.Errorf("created %s/%s, want team/%s", got.Namespace, got.Name, Default)
			}
		})
	}
}

// TestEventsEnqueue: a namespace event or the deletion of a default
// ServiceAccount queues the namespace; other ServiceAccounts do not.
func TestEventsEnqueue(t *testing.T) {
	tests := []struct {
		name  string
		event func(c *Controller)
		want  string // "" for nothing queued
	}{
		{"namespace added or updated", func(c *Controller) {
			c.namespaceChanged(namespace("team", corev1.NamespaceActive))
		}, "team"},
		{"default deleted", func(c *Controller) {
			c.serviceAccountDeleted(serviceAccount("team", Default))
		}, "team"},
		{"default deleted, seen as a tombstone", func(c *Controller) {
			c.serviceAccountDeleted(cache.DeletedFinalStateUnknown{Key: "team/default", Obj: serviceAccount("team", Default)})
		}, "team"},
		{"another ServiceAccount deleted", func(c *Controller) {
			c.serviceAccountDeleted(serviceAccount("team", "builder"))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(fake.NewClientset(), informers.NewSharedInformerFactory(fake.NewClientset(), 0))
			defer c.queue.ShutDown()
			tt.event(c)
			if tt.want == "" {
				if n := c.queue.Len(); n != 0 {
					t.Errorf("got %d keys queued, want none", n)
				}
				return
			}
			if n := c.queue.Len(); n != 1 {
				t.Fatalf("got %d keys queued, want 1", n)
			}
			if got, _ := c.queue.Get(); got != tt.want {
				t.Errorf("got key %q, want %q", got, tt.want)
			}
		})
	}
}
