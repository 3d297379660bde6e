package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"minik8s/pkg/storage"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
)

// initialEventsEnd is the annotation on the bookmark that closes the
// initial events of a watch-list request.
const initialEventsEnd = "k8s.io/initial-events-end"

// watch streams {"type","object"} lines, one flush per event.
func (s *Server) watch(k *call) {
	pred, err := s.predicate(k)
	if err != nil {
		writeError(k.c, err)
		return
	}
	q := k.c.Request.URL.Query()
	rv, err := storage.ParseResourceVersion(q.Get("resourceVersion"))
	if err != nil {
		writeError(k.c, apierrors.NewBadRequest(err.Error()))
		return
	}
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	initial := q.Get("sendInitialEvents") == "true"
	if q.Has("sendInitialEvents") && (!bookmarks || (q.Get("resourceVersionMatch") != "" && q.Get("resourceVersionMatch") != "NotOlderThan")) {
		writeError(k.c, apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "", field.ErrorList{
			field.Forbidden(field.NewPath("sendInitialEvents"), "sendInitialEvents requires allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan (or unset)"),
		}))
		return
	}
	timeout := 30 * time.Minute
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(k.c, apierrors.NewBadRequest("invalid timeoutSeconds"))
			return
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx, cancel := context.WithTimeout(k.ctx(), timeout)
	defer cancel()
	events := s.store.Watch(ctx, k.prefix(), k.r.New, storage.WatchOptions{
		ResourceVersion:   rv,
		SendInitialEvents: initial,
		Predicate:         pred,
		ProgressNotify:    bookmarks,
		Raw:               outputOf(k.c) == asObject,
	})
	mode := outputOf(k.c)
	w := k.c.Writer
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	var buf bytes.Buffer
	headers := true
	for ev := range events {
		var obj any = ev.Object
		switch ev.Type {
		case watch.Error:
			st := toStatus(storageError(k.r, "", ev.Err))
			obj = st
		case watch.Bookmark:
			if !bookmarks {
				continue
			}
			bm := k.r.New()
			bm.GetObjectKind().SetGroupVersionKind(k.r.GroupVersionKind())
			_ = storage.SetResourceVersion(bm, ev.Revision)
			if ev.InitialEventsEnd {
				m, _ := meta.Accessor(bm)
				m.SetAnnotations(map[string]string{initialEventsEnd: "true"})
			}
			obj = bm
			if mode == asMetadata {
				obj = partialMeta(bm)
			}
		default:
			switch mode {
			case asTable:
				t, err := table(k.c, k.r, []runtime.Object{ev.Object}, !headers)
				if err != nil {
					obj = toStatus(err)
					ev.Type = watch.Error
				} else {
					t.ResourceVersion = strconv.FormatInt(ev.Revision, 10)
					obj = t
					headers = false
				}
			case asMetadata:
				obj = partialMeta(ev.Object)
			}
		}
		data := ev.Raw
		if data == nil {
			if data, err = json.Marshal(obj); err != nil {
				s.logf("encoding a watch event: %v", err)
				return
			}
		}
		buf.Reset()
		fmt.Fprintf(&buf, `{"type":%q,"object":`, ev.Type)
		buf.Write(data)
		buf.WriteString("}\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		w.Flush()
		if ev.Type == watch.Error {
			return
		}
	}
}
