package api

// The functions below form the table's public face; resources.go fills it.
//
//	Resources() []*Resource                        every served resource, in discovery order
//	Lookup(group, version, plural string) (*Resource, bool)
//	LookupKind(gvk schema.GroupVersionKind) (*Resource, bool)
//	Scheme *runtime.Scheme                          k8s.io/api types registered (client-go's scheme), plus autoscaling/v1 Scale, meta/v1 Table, Status, WatchEvent
//	Codecs serializer.CodecFactory                  over Scheme
