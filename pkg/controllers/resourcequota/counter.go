package resourcequota

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
)

// MetadataCounter counts any resource by listing its objects' metadata
// from the API, in the preferred version of its group.
type MetadataCounter struct {
	md   metadata.Interface
	disc discovery.DiscoveryInterface
}

var _ Counter = (*MetadataCounter)(nil)

// NewMetadataCounter counts through md, asking disc for group versions.
func NewMetadataCounter(md metadata.Interface, disc discovery.DiscoveryInterface) *MetadataCounter {
	return &MetadataCounter{md: md, disc: disc}
}

// Count lists the objects of gr in namespace; a group the API does not
// serve counts zero.
func (m *MetadataCounter) Count(ctx context.Context, namespace string, gr schema.GroupResource) (int64, error) {
	groups, err := m.disc.ServerGroups()
	if err != nil {
		return 0, fmt.Errorf("discovering groups: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name != gr.Group {
			continue
		}
		gvr := gr.WithVersion(g.PreferredVersion.Version)
		list, err := m.md.Resource(gvr).Namespace(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		return int64(len(list.Items)), nil
	}
	return 0, nil
}
