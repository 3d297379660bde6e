package scheduler

import (
	"context"
	"strings"
	"sync/atomic"

	"github.com/go-logr/logr"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
)

// eventQueueLength bounds the events waiting for the writer, as client-go
// bounds its broadcaster's queue.
const eventQueueLength = 1000

// eventWriter writes the recorder's events to the API from a bounded queue
// with one goroutine, aggregating repeats as client-go's own writer does.
// Under a burst (10,000 Scheduled events in a few seconds) the API takes
// events more slowly than binds make them: the queue fills and further
// events are dropped and counted, never holding up a bind nor adding
// writes beyond the one writer's pace. A failed write is not retried: a
// retry would hold up the events behind it.
type eventWriter struct {
	queue      chan *v1.Event
	sink       record.EventSink
	correlator *record.EventCorrelator

	written, dropped, failed atomic.Int64
}

func newEventWriter(events typedcorev1.EventInterface, queueLength int) *eventWriter {
	return &eventWriter{
		queue:      make(chan *v1.Event, queueLength),
		sink:       &typedcorev1.EventSinkImpl{Interface: events},
		correlator: record.NewEventCorrelatorWithOptions(record.CorrelatorOptions{}),
	}
}

// enqueue takes an event from the broadcaster without blocking it.
func (w *eventWriter) enqueue(e *v1.Event) {
	select {
	case w.queue <- e:
	default:
		w.dropped.Add(1)
	}
}

// run writes queued events until ctx is done.
func (w *eventWriter) run(ctx context.Context) {
	for {
		select {
		case e := <-w.queue:
			w.write(ctx, e)
		case <-ctx.Done():
			return
		}
	}
}

func (w *eventWriter) write(ctx context.Context, e *v1.Event) {
	cp := *e // the broadcaster may hand the same event to other watchers
	res, err := w.correlator.EventCorrelate(&cp)
	if err != nil || res.Skip {
		return
	}
	var out *v1.Event
	if res.Event.Count > 1 {
		out, err = w.sink.Patch(res.Event, res.Patch)
	}
	if res.Event.Count <= 1 || apierrors.IsNotFound(err) {
		// A repeat whose first event has expired is created anew.
		res.Event.ResourceVersion = ""
		out, err = w.sink.Create(res.Event)
	}
	if err != nil {
		w.failed.Add(1)
		klog.FromContext(ctx).V(2).Info("Writing an event", "reason", e.Reason, "object", klog.KRef(e.InvolvedObject.Namespace, e.InvolvedObject.Name), "err", err)
		return
	}
	w.correlator.UpdateState(out)
	w.written.Add(1)
}

// dropCounter is the event recorder's logger: it counts the "too many
// queued events" drops of the broadcaster in front of the writer instead
// of printing each dropped event, and passes every other message on.
type dropCounter struct {
	sink logr.LogSink
	n    *atomic.Int64
}

// newDropCounter wraps sink, a shared and already initialised sink (klog's),
// so that it reports its callers past this wrapper's frame.
func newDropCounter(sink logr.LogSink, n *atomic.Int64) *dropCounter {
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1)
	}
	return &dropCounter{sink: sink, n: n}
}

// Init does not pass on: initialising the shared sink again would change
// it for every logger (and race with them).
func (d *dropCounter) Init(logr.RuntimeInfo)                 {}
func (d *dropCounter) Enabled(level int) bool                { return d.sink.Enabled(level) }
func (d *dropCounter) Info(level int, msg string, kv ...any) { d.sink.Info(level, msg, kv...) }
func (d *dropCounter) WithValues(kv ...any) logr.LogSink {
	return &dropCounter{d.sink.WithValues(kv...), d.n}
}
func (d *dropCounter) WithName(name string) logr.LogSink {
	return &dropCounter{d.sink.WithName(name), d.n}
}
func (d *dropCounter) Error(err error, msg string, kv ...any) {
	if err == nil && strings.HasPrefix(msg, "Unable to record event: too many queued events") {
		d.n.Add(1)
		return
	}
	d.sink.Error(err, msg, kv...)
}
