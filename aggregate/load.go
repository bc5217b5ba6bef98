package aggregate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// head asks load for the stream's last revision.
const head = math.MaxUint64

// loaded is an aggregate's state as load rebuilt it.
type loaded[S any] struct {
	state  S
	exists bool
	rev    uint64    // revision of the last event applied, when exists
	lastID uuid.UUID // ID of that event
	// snapRev is the revision of the snapshot load started from, or -1.
	snapRev int64
}

func (l loaded[S]) expected() eventstore.ExpectedRevision {
	if !l.exists {
		return eventstore.NoStream
	}
	return eventstore.Exact(l.rev)
}

func (l loaded[S]) aggregate(id string) Root[S] {
	return Root[S]{ID: id, State: l.state, Revision: l.expected()}
}

// load rebuilds an aggregate up to revision upTo (head for all of it),
// starting from the newest usable snapshot when useSnapshots is set. A
// missing stream is not an error: exists is false.
//
// A snapshot is used only if the stream still holds, at the snapshot's
// revision, the event the snapshot was taken after (same ID): reading starts
// there, so a stream that was deleted, truncated or rewritten since is
// detected, and the aggregate is rebuilt from its events alone.
func (r *Repository[S]) load(ctx context.Context, id string, upTo uint64, useSnapshots bool) (loaded[S], error) {
	if err := r.checkID(id); err != nil {
		return loaded[S]{}, err
	}
	stream := r.typ.Stream(id)
	l := loaded[S]{state: r.typ.initial(), snapRev: -1}
	opts := eventstore.ReadOptions{}
	if useSnapshots {
		snap, ok, err := r.latestSnapshot(ctx, id, upTo)
		if err != nil {
			return l, err
		}
		if ok {
			l = loaded[S]{state: snap.state, rev: snap.revision, lastID: snap.eventID, snapRev: int64(snap.revision)}
			opts.From = eventstore.FromRevision(snap.revision)
		}
	}
	if upTo != head {
		first, _ := opts.From.Revision()
		opts.MaxCount = upTo - first + 1
	}
	// The loop's body is a closure: what it changes lives on the heap, in
	// one allocation.
	var run struct {
		n int
		p *pipeline[S] // decodes in parallel once n reaches the threshold
	}
	defer func() {
		if run.p != nil {
			run.p.stop()
		}
	}()
	for rec, err := range r.store.ReadStream(ctx, stream, opts) {
		if err != nil {
			if run.p != nil { // the events read before the error come first
				if perr := run.p.finish(&l); perr != nil {
					return l, perr
				}
			}
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return loaded[S]{state: r.typ.initial(), snapRev: -1}, nil
			}
			return l, fmt.Errorf("aggregate: load %q: %w", stream, err)
		}
		if l.snapRev >= 0 && !l.exists {
			if rec.Revision != l.rev || rec.ID != l.lastID {
				break
			}
			l.exists = true // the snapshot is valid: its state is up to rec
			continue
		}
		run.n++
		rec.Metadata = versionOnly(rec.Metadata)
		if run.p != nil {
			if err := run.p.add(&l, rec); err != nil {
				return l, err
			}
			continue
		}
		if l.state, _, _, err = r.apply(l.state, rec); err != nil {
			return l, err
		}
		l.exists, l.rev, l.lastID = true, rec.Revision, rec.ID
		if run.n == r.opts.decoding.after {
			run.p = startPipeline(r)
		}
	}
	if run.p != nil {
		if err := run.p.finish(&l); err != nil {
			return l, err
		}
	}
	if l.snapRev >= 0 && !l.exists {
		r.log.WarnContext(ctx, "snapshot ignored: the stream does not continue it", logStream, stream, logRevision, l.snapRev)
		return r.load(ctx, id, upTo, false)
	}
	r.metrics.loaded.Add(ctx, int64(run.n), categoryAttr(r.typ.Category))
	return l, nil
}

// apply decodes rec and evolves state with it. Events the registry skips
// (schema.ErrSkipped, under its skip policy for unknown types) leave the
// state as it is.
func (r *Repository[S]) apply(state S, rec eventstore.RecordedEvent) (_ S, _ schema.Event, applied bool, _ error) {
	ev, applied, err := r.decodeEvent(rec)
	if !applied || err != nil {
		return state, ev, false, err
	}
	return r.typ.Evolve(state, ev.Data), ev, true, nil
}

// decodeEvent decodes rec through the registry; applied is false for an
// event the registry skips, and for an error.
func (r *Repository[S]) decodeEvent(rec eventstore.RecordedEvent) (_ schema.Event, applied bool, _ error) {
	ev, err := r.registry.Decode(rec)
	if errors.Is(err, schema.ErrSkipped) {
		return ev, false, nil
	}
	if err != nil {
		return ev, false, fmt.Errorf("aggregate: %q revision %d: %w", rec.Stream, rec.Revision, err)
	}
	return ev, true, nil
}

// checkID rejects an empty aggregate ID.
func (r *Repository[S]) checkID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty aggregate ID for category %q", ErrInvalidID, r.typ.Category)
	}
	return nil
}

// versionOnly returns event metadata reduced to what decoding the data
// needs, the schema version, for loads, which apply Data and drop the rest:
// parsing every metadata key of every event was most of a load's time. It
// returns nil (read as version 1) when there is no version key, a minimal
// {"schemaVersion":"N"} when the key appears in the compact form the
// registry writes, and md unchanged in any other case, so that the registry
// decides.
func versionOnly(md []byte) []byte {
	const key = `"` + schema.MetadataSchemaVersion + `":"`
	i := bytes.Index(md, []byte(key))
	if i < 0 {
		if bytes.Contains(md, []byte(schema.MetadataSchemaVersion)) {
			return md
		}
		return nil
	}
	v := md[i+len(key):]
	end := bytes.IndexByte(v, '"')
	if end <= 0 || end > 9 {
		return md
	}
	for _, c := range v[:end] {
		if c < '0' || c > '9' {
			return md
		}
	}
	if end == 1 && v[0] == '1' {
		return nil
	}
	out := make([]byte, 0, len(key)+end+3)
	out = append(out, '{')
	out = append(out, md[i:i+len(key)+end+1]...)
	return append(out, '}')
}
