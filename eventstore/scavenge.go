package eventstore

import (
	"context"
	"errors"
	"fmt"
)

// A Scavenger is a Store that can remove, from its storage, the events its
// reads no longer show: those of deleted and tombstoned streams (the
// tombstone itself stays, so the name can never be reused), those before a
// stream's $tb, beyond its $maxCount or older than its $maxAge, and all but
// the latest event of metadata streams. Surviving events keep their
// revisions and positions. EventStoreDB scavenges on the server; the sqlite
// backend implements Scavenger.
type Scavenger interface {
	// Scavenge runs while the store serves other calls, in short
	// transactions, and reports what it removed.
	Scavenge(ctx context.Context) (ScavengeResult, error)
}

// ScavengeResult reports a scavenge.
type ScavengeResult struct {
	// EventsRemoved counts the events removed from storage.
	EventsRemoved int64
	// BytesBefore and BytesAfter are the size of the store's files before
	// and after the scavenge.
	BytesBefore, BytesAfter int64
	// FreeBytes is the space inside the files that the scavenge (and
	// earlier ones) left free for new events to reuse.
	FreeBytes int64
}

// Scavenge runs s's scavenge if it has one, and otherwise returns an error
// matching errors.ErrUnsupported.
func Scavenge(ctx context.Context, s Store) (ScavengeResult, error) {
	if sc, ok := s.(Scavenger); ok {
		return sc.Scavenge(ctx)
	}
	return ScavengeResult{}, fmt.Errorf("eventstore: scavenge: %T: %w", s, errors.ErrUnsupported)
}
