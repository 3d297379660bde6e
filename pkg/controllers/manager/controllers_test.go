package manager

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/metadata"
	metadatafake "k8s.io/client-go/metadata/fake"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// TestEveryControllerBuilds: each name of All builds its own controller,
// one per name (a merge once left a case empty and started two
// controllers under another name).
func TestEveryControllerBuilds(t *testing.T) {
	cs := fake.NewClientset()
	deps := controllerDeps{
		ctx:      context.Background(),
		cfg:      NewConfig(),
		rc:       &rest.Config{Host: "http://127.0.0.1:1"},
		factory:  informers.NewSharedInformerFactory(cs, 0),
		recorder: func(string) record.EventRecorder { return record.NewFakeRecorder(10) },
		metadataFor: func(string) (metadata.Interface, error) {
			return metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme()), nil
		},
	}
	types := map[string]string{}
	for _, name := range All {
		r, err := newController(name, cs, deps)
		if err != nil || r == nil {
			t.Errorf("%s: got %v, %v", name, r, err)
			continue
		}
		typ := fmt.Sprintf("%T", r)
		if other, ok := types[typ]; ok && !(name == ReplicationController && other == ReplicaSet) {
			t.Errorf("%s builds a %s, as %s does", name, typ, other)
		}
		types[typ] = name
	}
	if _, err := newController("nope", cs, deps); err == nil {
		t.Error("an unknown name built a controller")
	}
}
