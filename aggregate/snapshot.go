package aggregate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/schema"
)

// SnapshotEventType is the type of snapshot events. A snapshot's data is a
// JSON object:
//
//	{"stream":"order-42","revision":99,"eventId":"…","version":"schema-1f…","takenAt":"…","state":{…}}
//
// where revision and eventId are those of the last event the state includes
// and version is the Type's snapshot version. Snapshots do not pass through the schema
// registry: their shape is S, versioned by SnapshotVersion.
const SnapshotEventType = "chronicle.snapshot"

type snapshotData struct {
	Stream   string          `json:"stream"`
	Revision uint64          `json:"revision"`
	EventID  uuid.UUID       `json:"eventId"`
	Version  string          `json:"version"`
	TakenAt  time.Time       `json:"takenAt"`
	State    json.RawMessage `json:"state"`
}

type snapshot[S any] struct {
	state    S
	revision uint64
	eventID  uuid.UUID
}

// latestSnapshot returns the newest snapshot of the aggregate with this
// repository's snapshot version and a revision not after upTo. Snapshots of
// another version, or that do not decode, are skipped.
func (r *Repository[S]) latestSnapshot(ctx context.Context, id string, upTo uint64) (snapshot[S], bool, error) {
	stream := r.typ.SnapshotStream(id)
	for rec, err := range r.store.ReadStream(ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End}) {
		if err != nil {
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return snapshot[S]{}, false, nil
			}
			return snapshot[S]{}, false, fmt.Errorf("aggregate: read snapshots %q: %w", stream, err)
		}
		var d snapshotData
		if rec.Type != SnapshotEventType || json.Unmarshal(rec.Data, &d) != nil {
			r.log.WarnContext(ctx, "snapshot ignored: not a snapshot", logStream, stream, logRevision, rec.Revision)
			continue
		}
		if d.Version != r.snapVer || d.Stream != r.typ.Stream(id) || d.Revision > upTo {
			continue
		}
		var state S // not Initial(): a field the snapshot omits is zero
		if err := json.Unmarshal(d.State, &state); err != nil {
			r.log.WarnContext(ctx, "snapshot ignored: state does not decode", logStream, stream, logRevision, rec.Revision, logError, err)
			continue
		}
		return snapshot[S]{state: state, revision: d.Revision, eventID: d.EventID}, true, nil
	}
	return snapshot[S]{}, false, nil
}

// snapshot appends a snapshot of l, whose last event has metadata last.
// Failing to is logged, not returned: the command it follows has succeeded,
// and the next load replays the events.
func (r *Repository[S]) snapshot(ctx context.Context, id string, l loaded[S], last schema.Metadata) {
	stream := r.typ.SnapshotStream(id)
	err := r.writeSnapshot(ctx, id, l, last)
	if err != nil {
		r.log.LogAttrs(ctx, slog.LevelWarn, "snapshot failed",
			slog.String(logStream, stream), slog.Uint64(logRevision, l.rev), slog.Any(logError, err))
		return
	}
	r.metrics.snapshots.Add(ctx, 1, categoryAttr(r.typ.Category))
	r.log.LogAttrs(ctx, slog.LevelDebug, "snapshot taken",
		slog.String(logStream, stream), slog.Uint64(logRevision, l.rev))
}

// writeSnapshot appends the snapshot event. Its metadata is the last
// event's (correlation, trace context, command name) with that event as
// the cause and the time the snapshot was taken; it has no schema version,
// since snapshots do not go through the registry.
func (r *Repository[S]) writeSnapshot(ctx context.Context, id string, l loaded[S], last schema.Metadata) error {
	state, err := json.Marshal(l.state)
	if err != nil {
		return fmt.Errorf("aggregate: snapshot: %w", err)
	}
	takenAt := r.opts.clock.Now().UTC()
	data, err := json.Marshal(snapshotData{
		Stream: r.typ.Stream(id), Revision: l.rev, EventID: l.lastID, Version: r.snapVer,
		TakenAt: takenAt, State: state,
	})
	if err != nil {
		return fmt.Errorf("aggregate: snapshot: %w", err)
	}
	md := last
	md.SchemaVersion, md.CausationID, md.DecidedAt = 0, l.lastID.String(), takenAt
	meta, err := md.MarshalJSON()
	if err != nil {
		return fmt.Errorf("aggregate: snapshot: %w", err)
	}
	stream := r.typ.SnapshotStream(id)
	ev := eventstore.EventData{ID: uuid.New(), Type: SnapshotEventType, ContentType: eventstore.ContentTypeJSON, Data: data, Metadata: meta}
	if _, err := r.store.Append(ctx, stream, eventstore.Any, ev); err != nil {
		return fmt.Errorf("aggregate: snapshot: %w", err)
	}
	return r.keepSnapshots(ctx, stream)
}

// keepSnapshots makes the snapshot stream's $maxCount the retention policy's
// (WithSnapshotRetention), also when the policy changed since the stream
// was created, keeping the rest of its metadata.
func (r *Repository[S]) keepSnapshots(ctx context.Context, stream string) error {
	cur, err := r.store.GetStreamMetadata(ctx, stream)
	if err != nil {
		return fmt.Errorf("aggregate: snapshot retention: %w", err)
	}
	keep := uint64(r.opts.snapshotKeep)
	if cur.Metadata.MaxCount == keep {
		return nil
	}
	meta := cur.Metadata
	meta.MaxCount = keep
	if _, err := r.store.SetStreamMetadata(ctx, stream, cur.Revision, meta); err != nil {
		return fmt.Errorf("aggregate: snapshot retention: %w", err)
	}
	return nil
}
