package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// unlimited is the count of a read without a limit.
const unlimited = math.MaxInt64

// ReadStream implements eventstore.Store. A read that fails with a
// transient error is restarted after the last event it delivered, so the
// caller sees neither a gap nor a duplicate.
func (s *Store) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := backend.ValidateRead(stream, opts); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		dir, from := esdb.Forwards, opts.From
		if opts.Direction == eventstore.Backwards {
			dir = esdb.Backwards
		}
		left, done := opts.MaxCount, false
		open := func(ctx context.Context) (*esdb.ReadStream, error) {
			if done {
				return nil, nil
			}
			return s.client.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: dir, From: toStreamPosition(from), ResolveLinkTos: opts.ResolveLinks}, countOf(left))
		}
		each := func(ev *esdb.ResolvedEvent) bool {
			e := fromResolved(ev)
			if o := e.Original(); dir == esdb.Backwards {
				from, done = eventstore.FromRevision(o.Revision-1), o.Revision == 0
			} else {
				from = eventstore.FromRevision(o.Revision + 1)
			}
			if left > 0 {
				left--
				done = done || left == 0
			}
			return yield(e, nil)
		}
		if err := s.read(ctx, call{op: opRead, stream: stream, retry: always}, open, each); err != nil {
			yield(eventstore.RecordedEvent{}, err)
		}
	}
}

// ReadAll implements eventstore.Store. The v4 client cannot send filters
// with reads, so a filtered ReadAll filters on the client: every event is
// transferred. Transient failures restart the read after the last event
// examined.
func (s *Store) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		m, err := backend.ValidateReadAll(opts)
		if err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		dir, from := esdb.Forwards, opts.From
		if opts.Direction == eventstore.Backwards {
			dir = esdb.Backwards
		}
		var last *eventstore.Position // last event examined
		left, done := opts.MaxCount, false
		open := func(ctx context.Context) (*esdb.ReadStream, error) {
			if done {
				return nil, nil
			}
			count := countOf(left)
			if m != nil {
				count = unlimited
			}
			return s.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: dir, From: toAllPosition(from), ResolveLinkTos: opts.ResolveLinks}, count)
		}
		each := func(ev *esdb.ResolvedEvent) bool {
			e := fromResolved(ev)
			o := e.Original()
			if last != nil && dir == esdb.Forwards && o.Position.Compare(*last) <= 0 {
				return true // a restarted forwards read includes its start
			}
			pos := o.Position
			last, from = &pos, eventstore.FromPosition(pos)
			if !m.MatchEvent(o) {
				return true
			}
			if left > 0 {
				left--
				done = left == 0
			}
			return yield(e, nil) && !done
		}
		if err := s.read(ctx, call{op: opRead, stream: eventstore.AllStream, retry: always}, open, each); err != nil {
			yield(eventstore.RecordedEvent{}, err)
		}
	}
}

// GetStreamMetadata implements eventstore.Store: it reads the latest event
// of $$<stream> and decodes it exactly (the client's own metadata API
// rounds large numbers through float64 and drops $-prefixed custom keys).
func (s *Store) GetStreamMetadata(ctx context.Context, stream string) (eventstore.MetadataResult, error) {
	if err := eventstore.ValidateStreamName(opGetMetadata, stream, true); err != nil {
		return eventstore.MetadataResult{}, err
	}
	name := eventstore.MetadataStreamName(stream)
	var latest *esdb.RecordedEvent
	open := func(ctx context.Context) (*esdb.ReadStream, error) {
		if latest != nil {
			return nil, nil
		}
		return s.client.ReadStream(ctx, name, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	}
	each := func(ev *esdb.ResolvedEvent) bool {
		latest = ev.OriginalEvent()
		return false
	}
	res := eventstore.MetadataResult{Revision: eventstore.NoStream}
	err := s.read(ctx, call{op: opGetMetadata, stream: name, retry: always}, open, each)
	switch {
	case errors.Is(err, eventstore.ErrStreamNotFound):
		return res, nil
	case err != nil:
		return eventstore.MetadataResult{}, err
	case latest == nil:
		return res, nil
	}
	if err := json.Unmarshal(latest.Data, &res.Metadata); err != nil {
		return eventstore.MetadataResult{}, fmt.Errorf("esdb: get metadata %q: revision %d: %w", stream, latest.EventNumber, err)
	}
	res.Revision = eventstore.Exact(latest.EventNumber)
	return res, nil
}

// read runs a read that can restart where it stopped. open starts it, or
// restarts it after the events already handled (nil, nil: nothing is left
// to read); each handles one event and returns false to stop. Reads are
// safe to repeat, so transient failures are retried while the retries last;
// any event received starts the count again.
func (s *Store) read(ctx context.Context, c call, open func(context.Context) (*esdb.ReadStream, error), each func(*esdb.ResolvedEvent) bool) error {
	return s.attempts(ctx, c, func(ctx context.Context) (bool, error) {
		rs, err := detach(s, ctx, func() (*esdb.ReadStream, error) { return open(ctx) })
		if rs == nil {
			return false, err
		}
		return drain(rs, each)
	})
}

// drain hands the events of rs to each until the read ends or each stops
// (nil error) or it fails. progress says whether any event arrived.
func drain(rs *esdb.ReadStream, each func(*esdb.ResolvedEvent) bool) (progress bool, err error) {
	defer rs.Close()
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return progress, nil
		}
		if err != nil {
			return progress, err
		}
		progress = true
		if ev.OriginalEvent() != nil && !each(ev) {
			return true, nil
		}
	}
}

// countOf is the count to ask for when left events are wanted (0: all).
func countOf(left uint64) uint64 {
	if left == 0 || left > unlimited {
		return unlimited
	}
	return left
}

func toStreamPosition(f eventstore.From) esdb.StreamPosition {
	if rev, ok := f.Revision(); ok {
		return esdb.StreamRevision{Value: rev}
	}
	if f.IsEnd() {
		return esdb.End{}
	}
	return esdb.Start{}
}

func toAllPosition(f eventstore.From) esdb.AllPosition {
	if p, ok := f.Position(); ok {
		return toPosition(p)
	}
	if f.IsEnd() {
		return esdb.End{}
	}
	return esdb.Start{}
}
