package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// eventSeq numbers the events the suite creates, so that every payload is
// distinct across the whole run.
var eventSeq atomic.Uint64

// newEvents returns n events of type typ with fresh IDs and distinct JSON
// payloads and metadata.
func newEvents(n int, typ string) []eventstore.EventData {
	out := make([]eventstore.EventData, n)
	for i := range out {
		k := eventSeq.Add(1)
		out[i] = eventstore.EventData{
			ID:          uuid.New(),
			Type:        typ,
			ContentType: eventstore.ContentTypeJSON,
			Data:        fmt.Appendf(nil, `{"n":%d}`, k),
			Metadata:    fmt.Appendf(nil, `{"$correlationId":"c-%d"}`, k),
		}
	}
	return out
}

// newEvent returns one event of type typ.
func newEvent(typ string) eventstore.EventData { return newEvents(1, typ)[0] }

// append appends events and fails the test on error.
func (e *env) append(stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	e.t.Helper()
	res, err := e.s.Append(e.ctx, stream, expected, events...)
	if err != nil {
		e.t.Fatalf("Append(%q, %v, %d events): %v", stream, expected, len(events), err)
	}
	return res
}

// seed appends n new events of type "Seeded" to stream with Any and returns
// them.
func (e *env) seed(stream string, n int) []eventstore.EventData {
	e.t.Helper()
	evs := newEvents(n, "Seeded")
	e.append(stream, eventstore.Any, evs...)
	return evs
}

// collect ranges over seq and returns what it yielded. The iterator must end
// after yielding an error; anything it yields afterwards is reported.
func collect[T any](t *testing.T, seq iter.Seq2[T, error]) ([]T, error) {
	t.Helper()
	var out []T
	var failed error
	for v, err := range seq {
		if failed != nil {
			t.Errorf("iterator yielded again after the error %v", failed)
			break
		}
		if err != nil {
			failed = err
			continue
		}
		out = append(out, v)
	}
	return out, failed
}

// read reads a stream.
func (e *env) read(stream string, opts eventstore.ReadOptions) ([]eventstore.RecordedEvent, error) {
	e.t.Helper()
	return collect(e.t, e.s.ReadStream(e.ctx, stream, opts))
}

// mustRead reads a stream and fails the test on error.
func (e *env) mustRead(stream string, opts eventstore.ReadOptions) []eventstore.RecordedEvent {
	e.t.Helper()
	evs, err := e.read(stream, opts)
	if err != nil {
		e.t.Fatalf("ReadStream(%q, %+v): %v", stream, opts, err)
	}
	return evs
}

// readAll reads $all and fails the test on error.
func (e *env) readAll(opts eventstore.ReadAllOptions) []eventstore.RecordedEvent {
	e.t.Helper()
	evs, err := collect(e.t, e.s.ReadAll(e.ctx, opts))
	if err != nil {
		e.t.Fatalf("ReadAll(%+v): %v", opts, err)
	}
	return evs
}

// head returns the position of the last event in $all, zero when it is
// empty. A fresh remote store may hold system events of its own; checks of
// $all look only at what comes after the head they started with.
func (e *env) head() eventstore.Position {
	e.t.Helper()
	evs := e.readAll(eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1})
	if len(evs) == 0 {
		return eventstore.Position{}
	}
	return evs[0].Position
}

// after returns the start point just after mark: Start for the zero
// position, FromPosition(mark) otherwise (exclusive for subscriptions; reads
// must drop the event at mark themselves).
func after(mark eventstore.Position) eventstore.From {
	if mark.IsZero() {
		return eventstore.Start
	}
	return eventstore.FromPosition(mark)
}

// readAllAfter reads $all forwards from just after mark, with an optional
// filter.
func (e *env) readAllAfter(mark eventstore.Position, filter *eventstore.Filter) []eventstore.RecordedEvent {
	e.t.Helper()
	evs := e.readAll(eventstore.ReadAllOptions{From: after(mark), Filter: filter})
	for len(evs) > 0 && evs[0].Position.Compare(mark) <= 0 {
		evs = evs[1:]
	}
	return evs
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// wantWrongVersion fails unless err is a *WrongExpectedVersionError for
// stream with the given expected and actual revisions.
func wantWrongVersion(t *testing.T, what string, err error, stream string, expected, actual eventstore.ExpectedRevision) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		t.Fatalf("%s: got error %v, want ErrWrongExpectedVersion", what, err)
	}
	var wev *eventstore.WrongExpectedVersionError
	if !errors.As(err, &wev) {
		t.Fatalf("%s: error %v (%T) matches ErrWrongExpectedVersion but is not a *WrongExpectedVersionError", what, err, err)
	}
	if wev.Stream != stream || wev.Expected != expected || wev.Actual != actual {
		t.Fatalf("%s: WrongExpectedVersionError{Stream: %q, Expected: %v, Actual: %v}, want {%q, %v, %v}",
			what, wev.Stream, wev.Expected, wev.Actual, stream, expected, actual)
	}
}

// wantDeleted fails unless err is a *StreamDeletedError matching
// ErrStreamDeleted; when stream is not empty, it must name it.
func wantDeleted(t *testing.T, what string, err error, stream string) {
	t.Helper()
	if !errors.Is(err, eventstore.ErrStreamDeleted) {
		t.Fatalf("%s: got error %v, want ErrStreamDeleted", what, err)
	}
	var sde *eventstore.StreamDeletedError
	if !errors.As(err, &sde) {
		t.Fatalf("%s: error %v (%T) matches ErrStreamDeleted but is not a *StreamDeletedError", what, err, err)
	}
	if stream != "" && sde.Stream != stream {
		t.Fatalf("%s: StreamDeletedError.Stream = %q, want %q", what, sde.Stream, stream)
	}
}

// wantNotFound fails unless reading stream yields ErrStreamNotFound and no
// event.
func (e *env) wantNotFound(stream string) {
	e.t.Helper()
	evs, err := e.read(stream, eventstore.ReadOptions{})
	if len(evs) > 0 {
		e.t.Fatalf("ReadStream(%q) yielded %d events, want ErrStreamNotFound", stream, len(evs))
	}
	wantErr(e.t, fmt.Sprintf("ReadStream(%q)", stream), err, eventstore.ErrStreamNotFound)
}

// sameEvent reports how a recorded event differs from the event data it was
// appended from ("" when it does not).
func sameEvent(got eventstore.RecordedEvent, want eventstore.EventData) string {
	wantCT := want.ContentType
	if wantCT == "" {
		wantCT = eventstore.ContentTypeJSON
	}
	switch {
	case want.ID != uuid.Nil && got.ID != want.ID:
		return fmt.Sprintf("ID %v, want %v", got.ID, want.ID)
	case got.Type != want.Type:
		return fmt.Sprintf("Type %q, want %q", got.Type, want.Type)
	case got.ContentType != wantCT:
		return fmt.Sprintf("ContentType %q, want %q", got.ContentType, wantCT)
	case !bytes.Equal(got.Data, want.Data):
		return fmt.Sprintf("Data %q, want %q", trunc(got.Data), trunc(want.Data))
	case !bytes.Equal(got.Metadata, want.Metadata):
		return fmt.Sprintf("Metadata %q, want %q", trunc(got.Metadata), trunc(want.Metadata))
	}
	return ""
}

func trunc(b []byte) []byte {
	if len(b) > 64 {
		return append(b[:64:64], "…"...)
	}
	return b
}

// wantStream fails unless got is exactly the events want of stream, at
// revisions first, first+1, … (or first, first-1, … when backwards).
func wantStream(t *testing.T, what string, got []eventstore.RecordedEvent, stream string, first uint64, backwards bool, want []eventstore.EventData) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events %s, want %d", what, len(got), revisions(got), len(want))
	}
	for i := range got {
		rev := first + uint64(i)
		if backwards {
			rev = first - uint64(i)
		}
		if got[i].Stream != stream || got[i].Revision != rev {
			t.Fatalf("%s: event %d is %q@%d, want %q@%d", what, i, got[i].Stream, got[i].Revision, stream, rev)
		}
		if d := sameEvent(got[i], want[i]); d != "" {
			t.Fatalf("%s: event %d (%q@%d): %s", what, i, stream, rev, d)
		}
	}
}

// revisions describes the revisions of events, for failure messages.
func revisions(evs []eventstore.RecordedEvent) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, ev := range evs {
		if i == 16 {
			fmt.Fprintf(&b, " …%d more", len(evs)-i)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s@%d", ev.Stream, ev.Revision)
	}
	b.WriteByte(']')
	return b.String()
}

// reversed returns a reversed copy of s.
func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

// increasing fails unless the events' positions are non-zero and strictly
// increasing.
func increasing(t *testing.T, what string, evs []eventstore.RecordedEvent) {
	t.Helper()
	for i, ev := range evs {
		if ev.Position.IsZero() {
			t.Fatalf("%s: event %d (%s@%d) has the zero position", what, i, ev.Stream, ev.Revision)
		}
		if i > 0 && ev.Position.Compare(evs[i-1].Position) <= 0 {
			t.Fatalf("%s: position %v of event %d (%s@%d) is not after %v", what, ev.Position, i, ev.Stream, ev.Revision, evs[i-1].Position)
		}
	}
}

// within runs fn and fails the test if it has not returned after d: the
// guard for calls that a buggy backend could block forever (a lock held
// while yielding). On failure fn's goroutine is abandoned.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		// Also say it on stderr at once: a deadlocked store usually hangs
		// the test's cleanup (Close) too, and then the test never reports.
		fmt.Fprintf(os.Stderr, "storetest: %s: %s: still blocked after %v (deadlock?)\n", t.Name(), what, d)
		t.Fatalf("%s: still blocked after %v (deadlock?)", what, d)
	}
}

// poll calls cond until it returns true, pausing between calls, and fails
// the test if that has not happened within limit (or before the subtest's
// time is up).
func (e *env) poll(what string, limit time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-e.ctx.Done():
			e.t.Fatalf("%s: not true before the subtest's deadline", what)
		case <-deadline.C:
			e.t.Fatalf("%s: not true after %v", what, limit)
		case <-tick.C:
		}
	}
}
