package esdbserver

import (
	"context"
	"iter"
	"slices"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/backend"
)

// userEventType is the type of the events of $users.
const userEventType = "$User"

// usersNamespace is the name space of the IDs of $users events.
var usersNamespace = uuid.MustParse("4d1f2c7a-8b3e-5a90-9c61-2e7b5d0a3f18")

// users returns the $users stream of a server with users (WithUsers): one
// $User event per user, in name order, whose data is the login name, as an
// EventStoreDB node writes at start-up (its users' details are in
// $user-<name> streams, which this server does not serve). The events are
// the server's, not the store's: they are not in $all, and have no
// position.
func (s *Server) users() []eventstore.RecordedEvent {
	names := make([]string, 0, len(s.opts.users))
	for name := range s.opts.users {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]eventstore.RecordedEvent, len(names))
	for i, name := range names {
		out[i] = eventstore.RecordedEvent{
			ID:          uuid.NewSHA1(usersNamespace, []byte(name)),
			Type:        userEventType,
			ContentType: eventstore.ContentTypeBinary,
			Data:        []byte(name),
			Stream:      eventstore.UsersStream,
			Revision:    uint64(i),
			Created:     s.started,
		}
	}
	return out
}

// readStream reads a stream of the store, or $users when the server has
// users.
func (s *Server) readStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if stream != eventstore.UsersStream || len(s.opts.users) == 0 {
		return s.store.ReadStream(ctx, stream, opts)
	}
	return func(yield func(eventstore.RecordedEvent, error) bool) {
		if err := backend.ValidateRead(stream, opts); err != nil {
			yield(eventstore.RecordedEvent{}, err)
			return
		}
		evs := s.users()
		last := uint64(len(evs) - 1)
		back := opts.Direction == eventstore.Backwards
		rev, isRev := opts.From.Revision()
		var lo, hi uint64 // inclusive range to return
		switch {
		case back && isRev:
			lo, hi = 0, min(rev, last)
		case back && opts.From.IsStart():
			lo, hi = 0, 0
		case back:
			lo, hi = 0, last
		case opts.From.IsEnd() || (isRev && rev > last):
			return
		case isRev:
			lo, hi = rev, last
		default:
			lo, hi = 0, last
		}
		evs = evs[lo : hi+1]
		if back {
			slices.Reverse(evs)
		}
		if opts.MaxCount > 0 && uint64(len(evs)) > opts.MaxCount {
			evs = evs[:opts.MaxCount]
		}
		for _, e := range evs {
			if !yield(e, nil) {
				return
			}
		}
	}
}
