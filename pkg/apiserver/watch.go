package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"minik8s/pkg/api"
	"minik8s/pkg/storage"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
)

// initialEventsEnd is the annotation on the bookmark that closes the
// initial events of a watch-list request.
const initialEventsEnd = "k8s.io/initial-events-end"

// watch streams {"type","object"} lines, or protobuf frames to a client
// that prefers them.
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
	mode := outputOf(k.c)
	w := k.c.Writer
	var enc eventEncoder = &jsonLines{}
	wire := k.wire()
	if mode == asObject && wantsProtobuf(k.c) {
		enc = newProtoWatch(wire.GroupVersion(), wire.New)
	}
	events := s.store.Watch(ctx, k.prefix(), k.r.New, storage.WatchOptions{
		ResourceVersion:   rv,
		SendInitialEvents: initial,
		Predicate:         pred,
		ProgressNotify:    bookmarks,
		// Raw for protobuf too: decoding the stored JSON once here is
		// cheaper than the store decoding the previous version as well.
		// Not when the stored version is not the one served, nor for
		// custom resources, pruned and defaulted on every read.
		Raw: mode == asObject && k.served == nil && k.r.CRD == nil,
	})
	w.Header().Set("Content-Type", enc.contentType())
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	headers := true
	for ev := range events {
		var obj any = ev.Object
		switch ev.Type {
		case watch.Error:
			obj = toStatus(storageError(k.wire(), "", ev.Err))
		case watch.Bookmark:
			if !bookmarks {
				continue
			}
			bm := wire.New()
			bm.GetObjectKind().SetGroupVersionKind(wire.GroupVersionKind())
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
			default:
				if k.served != nil {
					shown, err := toServed(k.c, ev.Object)
					if err != nil {
						obj = toStatus(err)
						ev.Type = watch.Error
					} else {
						obj = shown
					}
				}
			}
		}
		data, err := enc.encode(ev.Type, obj, ev.Raw)
		if err != nil {
			s.logf("encoding a watch event: %v", err)
			return
		}
		if _, err := w.Write(data); err != nil {
			return
		}
		// As Kubernetes' apiserver does: flush when caught up, so that a
		// burst goes out in few writes and a lone event at once.
		if len(events) == 0 {
			w.Flush()
		}
		if ev.Type == watch.Error {
			w.Flush()
			return
		}
	}
}

// An eventEncoder gives the bytes on the wire of one watch event: of obj,
// or of the stored JSON raw when the store passed it on undecoded. The
// bytes are valid until the next call.
type eventEncoder interface {
	contentType() string
	encode(typ watch.EventType, obj any, raw []byte) ([]byte, error)
}

// jsonLines encodes {"type":…,"object":…} lines.
type jsonLines struct{ buf bytes.Buffer }

func (j *jsonLines) contentType() string { return "application/json" }

func (j *jsonLines) encode(typ watch.EventType, obj any, raw []byte) ([]byte, error) {
	if raw == nil {
		var err error
		if raw, err = json.Marshal(obj); err != nil {
			return nil, err
		}
	}
	j.buf.Reset()
	fmt.Fprintf(&j.buf, `{"type":%q,"object":`, typ)
	j.buf.Write(raw)
	j.buf.WriteString("}\n")
	return j.buf.Bytes(), nil
}

// protobufInfo is Kubernetes' protobuf serializer with its watch framing.
var protobufInfo = func() runtime.SerializerInfo {
	info, ok := runtime.SerializerInfoForMediaType(api.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		panic("api.Codecs has no protobuf serializer")
	}
	return info
}()

// protoWatch writes watch events as Kubernetes' apiserver does for a
// client that asks for protobuf: length-prefixed frames, each a
// metav1.WatchEvent whose object is the object in protobuf. It spares the
// client decoding JSON twice per event (the event, then its object), which
// was most of an informer's CPU.
type protoWatch struct {
	objects      runtime.Encoder
	newObj       func() runtime.Object
	obj, ev, out bytes.Buffer
	frames       io.Writer // frames into out
}

func newProtoWatch(gv schema.GroupVersion, newObj func() runtime.Object) *protoWatch {
	p := &protoWatch{
		objects: api.Codecs.WithoutConversion().EncoderForVersion(protobufInfo.Serializer, gv),
		newObj:  newObj,
	}
	p.frames = protobufInfo.StreamSerializer.Framer.NewFrameWriter(&p.out)
	return p
}

func (p *protoWatch) contentType() string { return protobufInfo.MediaType + ";stream=watch" }

func (p *protoWatch) encode(typ watch.EventType, obj any, raw []byte) ([]byte, error) {
	if raw != nil {
		o := p.newObj()
		if err := json.Unmarshal(raw, o); err != nil {
			return nil, fmt.Errorf("decoding a stored object: %w", err)
		}
		obj = o
	}
	o, ok := obj.(runtime.Object)
	if !ok {
		return nil, fmt.Errorf("%T is not an object", obj)
	}
	p.obj.Reset()
	if err := p.objects.Encode(o, &p.obj); err != nil {
		return nil, err
	}
	p.ev.Reset()
	ev := &metav1.WatchEvent{Type: string(typ), Object: runtime.RawExtension{Raw: p.obj.Bytes()}}
	if err := protobufInfo.StreamSerializer.Serializer.Encode(ev, &p.ev); err != nil {
		return nil, err
	}
	p.out.Reset()
	if _, err := p.frames.Write(p.ev.Bytes()); err != nil {
		return nil, err
	}
	return p.out.Bytes(), nil
}
