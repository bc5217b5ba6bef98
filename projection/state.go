package projection

import (
	"context"
	"errors"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// State is a snapshot of a Runner.
type State struct {
	Projection string
	Version    int
	// Running is true between the start and the end of Run.
	Running bool
	// CaughtUp is true once the runner has handled every event that existed
	// when its subscription caught up, until it falls behind again.
	CaughtUp bool
	// Live is false while this version is being built beside the live one
	// (a rebuild) and true once it serves readers; always true for targets
	// without rebuilds.
	Live bool
	// Checkpoint is how far the runner has handled its source, gap-free:
	// every event up to it is handled (or skipped, or parked).
	Checkpoint Checkpoint
	// Handled, Skipped and Parked count events since Run started;
	// Examined counts every event the runner looked at, handled or not.
	Handled, Skipped, Parked, Examined uint64
	// Blocked is the number of partition keys blocked by parked events.
	Blocked int
	// Resubscriptions counts drops of the subscription it recovered from.
	Resubscriptions int
	// LastError is the last error the runner met, recovered or not.
	LastError error
	// Started is when Run started; LastEventTime is the recorded time of
	// the last event handled or examined.
	Started, LastEventTime time.Time
}

// Status is a State with what needs a look at the store: how far behind the
// head of its source the runner is, and the progress of a catch-up or
// rebuild.
type Status struct {
	State
	// Head is the position of the newest event in the store ($all), zero if
	// the store is empty.
	Head eventstore.Position
	// LagEvents is how many positions the checkpoint is behind the head.
	// The embedded stores number events one by one, so it counts events
	// there; EventStoreDB positions are log offsets, so there it is an
	// estimate.
	LagEvents uint64
	// LagTime is how much older the last handled event is than the newest
	// one in the store: 0 when caught up.
	LagTime time.Duration
	// Progress of the run toward the head.
	Progress Progress
}

// Progress reports a catch-up or rebuild: Done and Total in positions (events
// for the embedded stores), the rate in events per second since Run started,
// and the estimated time to reach Total at that rate.
type Progress struct {
	Done, Total uint64
	Rate        float64
	ETA         time.Duration
}

// Status returns the runner's State with its lag behind the store's head and
// its progress.
func (r *Runner[Tx]) Status(ctx context.Context) (Status, error) {
	st := Status{State: r.State()}
	var head eventstore.RecordedEvent
	found := false
	for e, err := range r.store.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			return st, err
		}
		head, found = e, true
	}
	if !found {
		return st, nil
	}
	st.Head = head.Position
	done := uint64(0)
	if p, ok := r.handledPosition(); ok {
		done = p.Commit
	}
	if head.Position.Commit > done {
		st.LagEvents = head.Position.Commit - done
	}
	if !st.CaughtUp && !st.LastEventTime.IsZero() && head.Created.After(st.LastEventTime) {
		st.LagTime = head.Created.Sub(st.LastEventTime)
	} else if !st.CaughtUp && st.LastEventTime.IsZero() {
		st.LagTime = r.o.now().Sub(head.Created)
	}
	st.Progress = Progress{Done: done, Total: head.Position.Commit}
	if el := r.o.now().Sub(st.Started).Seconds(); el > 0 && !st.Started.IsZero() {
		st.Progress.Rate = float64(st.Examined) / el
		if st.Progress.Rate > 0 && st.LagEvents > 0 {
			st.Progress.ETA = time.Duration(float64(st.LagEvents) / st.Progress.Rate * float64(time.Second))
		}
	}
	return st, nil
}

// State returns a snapshot of the runner's state.
func (r *Runner[Tx]) State() State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state
}

// handledPosition returns the $all position up to which the runner has
// handled its source: the checkpoint's, or for a stream source, the position
// of the last event handled.
func (r *Runner[Tx]) handledPosition() (eventstore.Position, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state.Checkpoint.Kind == AllCheckpoint {
		return r.state.Checkpoint.Position, true
	}
	return r.lastPos, !r.lastPos.IsZero()
}

// WaitFor blocks until the runner has handled everything up to position p
// (an append's result position), so that a request handler can read its own
// writes from the read model. For a stream source, p must be the position of
// an event of that stream. It returns nil at once if p is zero or already
// handled; ctx's error when ctx ends first; and ErrNotRunning, joined with
// the error Run ended with, when the runner stops before reaching p. Called
// before Run starts, it waits for Run. A runner that consumes through a
// persistent group (WithPersistentGroup) has no position: WaitFor fails
// with ErrInvalidProjection.
func (r *Runner[Tx]) WaitFor(ctx context.Context, p eventstore.Position) error {
	if r.pers != nil {
		return r.errPersistentMode("WaitFor")
	}
	return r.wait(ctx, func() bool { return p.IsZero() || r.reachedLocked(p) })
}

func (r *Runner[Tx]) reachedLocked(p eventstore.Position) bool {
	if r.state.Checkpoint.Kind == AllCheckpoint {
		return r.state.Checkpoint.Position.Compare(p) >= 0
	}
	return !r.lastPos.IsZero() && r.lastPos.Compare(p) >= 0
}

// WaitCaughtUp blocks until the runner is caught up (State.CaughtUp), ctx
// ends, or the runner stops (ErrNotRunning joined with Run's error). A
// persistent group's consumer is never caught up: WaitCaughtUp fails with
// ErrInvalidProjection for a runner with WithPersistentGroup.
func (r *Runner[Tx]) WaitCaughtUp(ctx context.Context) error {
	if r.pers != nil {
		return r.errPersistentMode("WaitCaughtUp")
	}
	return r.wait(ctx, func() bool { return r.state.CaughtUp })
}

// wait blocks until reached (called with r.mu held) is true, ctx ends, or a
// started runner stops.
func (r *Runner[Tx]) wait(ctx context.Context, reached func() bool) error {
	for {
		r.mu.Lock()
		ok := reached()
		changed, running, started, runErr := r.changed, r.state.Running, !r.state.Started.IsZero(), r.runErr
		r.mu.Unlock()
		if ok {
			return nil
		}
		if !running && started {
			return errors.Join(ErrNotRunning, runErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// update changes the state under the lock and wakes the waiters.
func (r *Runner[Tx]) update(f func(s *State)) {
	r.mu.Lock()
	f(&r.state)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}
