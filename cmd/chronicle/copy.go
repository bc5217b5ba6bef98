package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// Batch bounds of a copier: it appends a stream's consecutive events
// together, up to this many events or bytes.
const (
	copyBatchEvents = 256
	copyBatchBytes  = 4 << 20
)

// A copier writes recorded events (read from another store, or imported)
// into a store, keeping their IDs, types, content types, data and metadata.
// It appends runs of consecutive events of one stream in one append whose
// expected revision is the source revision before the run, so that copying
// the same events again is an idempotent re-append that writes nothing.
//
// Events of metadata streams ($$<stream>) are applied with
// SetStreamMetadata (unless the target already has that metadata); events of
// other system streams and tombstone records are skipped and counted.
//
// A copier remembers, for each stream it wrote, the next expected revision
// in the target: memory grows with the number of streams, not of events.
type copier struct {
	dst  eventstore.Store
	next map[string]eventstore.ExpectedRevision

	stream string // of the pending batch
	first  uint64 // source revision of batch[0]
	batch  []eventstore.EventData
	bytes  int

	start                     time.Time
	events, metadata, skipped int
	meter                     *meter
}

// newCopier returns a copier into dst that counts the events it writes on m.
func newCopier(dst eventstore.Store, m *meter) *copier {
	return &copier{
		dst:   dst,
		next:  make(map[string]eventstore.ExpectedRevision),
		start: time.Now(),
		meter: m,
	}
}

// add queues e, appending the pending batch first when e does not extend it.
func (c *copier) add(ctx context.Context, e eventstore.RecordedEvent) error {
	defer c.meter.event(&e)
	if of, ok := eventstore.IsMetadataStream(e.Stream); ok {
		if err := c.flush(ctx); err != nil {
			return err
		}
		if e.Type != eventstore.MetadataEventType {
			c.skipped++
			return nil
		}
		return c.setMetadata(ctx, of, e.Data)
	}
	if eventstore.IsSystemStream(e.Stream) || e.Type == eventstore.StreamDeletedEventType {
		c.skipped++
		return nil
	}
	size := backend.EventSize(&eventstore.EventData{Type: e.Type, Data: e.Data, Metadata: e.Metadata})
	if e.Stream != c.stream || e.Revision != c.first+uint64(len(c.batch)) ||
		len(c.batch) >= copyBatchEvents || c.bytes+size > copyBatchBytes {
		if err := c.flush(ctx); err != nil {
			return err
		}
		c.stream, c.first = e.Stream, e.Revision
	}
	c.batch = append(c.batch, eventstore.EventData{
		ID: e.ID, Type: e.Type, ContentType: e.ContentType, Data: e.Data, Metadata: e.Metadata,
	})
	c.bytes += size
	return nil
}

// flush appends the pending batch.
func (c *copier) flush(ctx context.Context) error {
	if len(c.batch) == 0 {
		return nil
	}
	expected, known := c.next[c.stream]
	if !known {
		expected = eventstore.NoStream
		if c.first > 0 {
			expected = eventstore.Exact(c.first - 1)
		}
	}
	res, err := c.dst.Append(ctx, c.stream, expected, c.batch...)
	if err != nil && !known && c.first > 0 && errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		// The source's earlier revisions are not being copied (truncated,
		// deleted, or before the range): the target's revisions start at 0.
		if res2, err2 := c.dst.Append(ctx, c.stream, eventstore.NoStream, c.batch...); err2 == nil {
			res, err = res2, nil
		}
	}
	if err != nil {
		return fmt.Errorf("append %d events to %q (source revisions %d-%d): %w",
			len(c.batch), c.stream, c.first, c.first+uint64(len(c.batch))-1, err)
	}
	c.next[c.stream] = res.Next
	c.events += len(c.batch)
	clear(c.batch) // drop references to the events' bytes
	c.batch, c.bytes = c.batch[:0], 0
	return nil
}

// setMetadata applies a $metadata event of stream's metadata stream.
func (c *copier) setMetadata(ctx context.Context, stream string, data []byte) error {
	var meta eventstore.StreamMetadata
	if err := json.Unmarshal(data, &meta); err != nil {
		return fmt.Errorf("metadata of %q: %w", stream, err)
	}
	cur, err := c.dst.GetStreamMetadata(ctx, stream)
	if err != nil {
		return fmt.Errorf("metadata of %q: %w", stream, err)
	}
	want, _ := meta.MarshalJSON()
	have, _ := cur.Metadata.MarshalJSON()
	if !cur.Revision.IsNoStream() && bytes.Equal(want, have) {
		return nil
	}
	if _, err := c.dst.SetStreamMetadata(ctx, stream, eventstore.Any, meta); err != nil {
		return fmt.Errorf("metadata of %q: %w", stream, err)
	}
	c.metadata++
	return nil
}

// copySummary is what a copier did, as import --json and replay --json
// print it.
type copySummary struct {
	Events   int     `json:"events"`
	Streams  int     `json:"streams"`
	Metadata int     `json:"metadataSet"`
	Skipped  int     `json:"skipped"`
	Seconds  float64 `json:"seconds"`
	Error    string  `json:"error,omitempty"`
}

// summary prints what the copier did, as a sentence or (asJSON) one JSON
// object; err is the command's error, if any.
func (c *copier) summary(w io.Writer, asJSON bool, err error) {
	c.meter.done()
	d := time.Since(c.start).Round(time.Millisecond)
	if asJSON {
		s := copySummary{Events: c.events, Streams: len(c.next), Metadata: c.metadata, Skipped: c.skipped, Seconds: d.Seconds()}
		if err != nil {
			s.Error = err.Error()
		}
		_ = json.NewEncoder(w).Encode(s)
		return
	}
	fmt.Fprintf(w, "%d events in %d streams, %d stream metadata set, %d system events skipped, in %s\n",
		c.events, len(c.next), c.metadata, c.skipped, d)
}
