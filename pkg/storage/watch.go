package storage

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Event is one change seen by a watch. Type watch.Bookmark carries only a
// revision (Object is an empty object with that resourceVersion);
// watch.Error carries Err and ends the stream.
type Event struct {
	Type     watch.EventType
	Object   runtime.Object
	Revision int64
	Err      error
	// Raw is the object's JSON when the watch asked for Raw.
	Raw []byte
	// InitialEventsEnd marks the bookmark that follows the initial
	// ADDED events of a watch asked to send them.
	InitialEventsEnd bool
}

// WatchOptions say where a watch starts and what it passes on.
type WatchOptions struct {
	// ResourceVersion: the watch reports changes after it. 0 means "now",
	// and the current objects come first as ADDED events.
	ResourceVersion int64
	// SendInitialEvents forces the ADDED events of the current state
	// (read at the latest revision) followed by a bookmark with
	// InitialEventsEnd set.
	SendInitialEvents bool
	// Predicate keeps the objects it accepts. An update that makes an
	// object match is ADDED, one that stops it matching is DELETED.
	Predicate func(obj runtime.Object) bool
	// ProgressNotify asks etcd for periodic progress events, passed on
	// as bookmarks.
	ProgressNotify bool
	// Raw, without a Predicate, sends the stored JSON (resourceVersion
	// filled in) in Event.Raw instead of decoding it into Event.Object.
	Raw bool
}

// Watch streams the changes under prefix until ctx ends or an error
// event is sent; the channel is closed then.
func (s *Store) Watch(ctx context.Context, prefix string, newItem func() runtime.Object, opts WatchOptions) <-chan Event {
	out := make(chan Event, 128)
	go s.watch(ctx, prefix, newItem, opts, out)
	return out
}

func (s *Store) watch(ctx context.Context, prefix string, newItem func() runtime.Object, opts WatchOptions, out chan<- Event) {
	defer close(out)
	send := func(ev Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sendErr := func(err error) {
		send(Event{Type: watch.Error, Err: err})
	}
	match := func(obj runtime.Object) bool { return opts.Predicate == nil || opts.Predicate(obj) }

	rev := opts.ResourceVersion
	if rev == 0 || opts.SendInitialEvents {
		list, err := s.List(ctx, prefix, newItem, ListOptions{Predicate: opts.Predicate})
		if err != nil {
			sendErr(err)
			return
		}
		for _, obj := range list.Items {
			r, _ := revisionOf(obj)
			if !send(Event{Type: watch.Added, Object: obj, Revision: r}) {
				return
			}
		}
		rev = list.ResourceVersion
		if opts.SendInitialEvents {
			bm := newItem()
			_ = SetResourceVersion(bm, rev)
			if !send(Event{Type: watch.Bookmark, Object: bm, Revision: rev, InitialEventsEnd: true}) {
				return
			}
		}
	}

	wopts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(rev + 1), clientv3.WithPrevKV()}
	if opts.ProgressNotify {
		wopts = append(wopts, clientv3.WithProgressNotify())
	}
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range s.client.Watch(wctx, prefix, wopts...) {
		if resp.CompactRevision != 0 {
			sendErr(newErr(ErrExpired, prefix, fmt.Sprintf("too old resource version: %d (%d)", rev, resp.CompactRevision)))
			return
		}
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) {
				err = newErr(ErrExpired, prefix, fmt.Sprintf("too old resource version: %d", rev))
			}
			sendErr(err)
			return
		}
		if resp.IsProgressNotify() {
			bm := newItem()
			_ = SetResourceVersion(bm, resp.Header.Revision)
			if !send(Event{Type: watch.Bookmark, Object: bm, Revision: resp.Header.Revision}) {
				return
			}
			continue
		}
		for _, e := range resp.Events {
			if opts.Raw && opts.Predicate == nil {
				ev, err := s.rawEvent(ctx, e)
				if err != nil {
					sendErr(err)
					return
				}
				if !send(ev) {
					return
				}
				continue
			}
			ev, ok, err := s.convertEvent(ctx, e, newItem, match)
			if err != nil {
				sendErr(err)
				return
			}
			if ok && !send(ev) {
				return
			}
		}
	}
	if ctx.Err() == nil {
		sendErr(fmt.Errorf("etcd watch on %s ended", prefix))
	}
}

func (s *Store) convertEvent(ctx context.Context, e *clientv3.Event, newItem func() runtime.Object, match func(runtime.Object) bool) (Event, bool, error) {
	var cur, prev runtime.Object
	if e.Type == mvccpb.PUT {
		data, _, err := s.fromStorage(ctx, string(e.Kv.Key), e.Kv.Value)
		if err != nil {
			return Event{}, false, err
		}
		cur = newItem()
		if err := s.decode(data, e.Kv.ModRevision, cur); err != nil {
			return Event{}, false, err
		}
	}
	if e.PrevKv != nil {
		data, _, err := s.fromStorage(ctx, string(e.PrevKv.Key), e.PrevKv.Value)
		if err != nil {
			return Event{}, false, err
		}
		prev = newItem()
		rv := e.Kv.ModRevision // a DELETED object carries the deletion revision
		if e.Type == mvccpb.PUT {
			rv = e.PrevKv.ModRevision
		}
		if err := s.decode(data, rv, prev); err != nil {
			return Event{}, false, err
		}
	}
	rev := e.Kv.ModRevision
	switch {
	case e.Type == mvccpb.DELETE:
		if prev == nil || !match(prev) {
			return Event{}, false, nil
		}
		return Event{Type: watch.Deleted, Object: prev, Revision: rev}, true, nil
	case e.IsCreate() || prev == nil:
		if !match(cur) {
			return Event{}, false, nil
		}
		return Event{Type: watch.Added, Object: cur, Revision: rev}, true, nil
	default:
		curOK, prevOK := match(cur), match(prev)
		switch {
		case curOK && prevOK:
			return Event{Type: watch.Modified, Object: cur, Revision: rev}, true, nil
		case curOK:
			return Event{Type: watch.Added, Object: cur, Revision: rev}, true, nil
		case prevOK:
			// It left the selection: report it gone, at this revision.
			_ = SetResourceVersion(cur, rev)
			return Event{Type: watch.Deleted, Object: cur, Revision: rev}, true, nil
		}
		return Event{}, false, nil
	}
}

func (s *Store) rawEvent(ctx context.Context, e *clientv3.Event) (Event, error) {
	rev := e.Kv.ModRevision
	switch {
	case e.Type == mvccpb.DELETE:
		var prev []byte
		if e.PrevKv != nil {
			var err error
			if prev, _, err = s.fromStorage(ctx, string(e.PrevKv.Key), e.PrevKv.Value); err != nil {
				return Event{}, err
			}
		}
		return Event{Type: watch.Deleted, Raw: InjectResourceVersion(prev, rev), Revision: rev}, nil
	}
	data, _, err := s.fromStorage(ctx, string(e.Kv.Key), e.Kv.Value)
	if err != nil {
		return Event{}, err
	}
	if e.IsCreate() {
		return Event{Type: watch.Added, Raw: InjectResourceVersion(data, rev), Revision: rev}, nil
	}
	return Event{Type: watch.Modified, Raw: InjectResourceVersion(data, rev), Revision: rev}, nil
}

func revisionOf(obj runtime.Object) (int64, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return 0, err
	}
	return ParseResourceVersion(m.GetResourceVersion())
}
