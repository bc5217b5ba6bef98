package storetest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/eventstore"
)

// DefaultTimeout is how long one subtest may take when Features.Timeout is 0.
const DefaultTimeout = 2 * time.Minute

// Features declares what the backend under test does beyond the contract's
// requirements, and how the suite should treat it. The zero value runs every
// required check; each optional check that a zero Features turns off is
// skipped with t.Skip and a reason naming the field, never silently.
type Features struct {
	// FallsBehind declares that the backend's subscriptions yield
	// MessageFellBehind when a consumer lags behind live delivery, as
	// backends built on internal/feed do (memory, sqlite). The slow-consumer
	// check then also requires that at least one MessageFellBehind (followed
	// by a MessageCaughtUp) was delivered. Without it, MessageFellBehind is
	// allowed but not required: EventStoreDB itself never sends it.
	FallsBehind bool

	// SnapshotReads declares that a read ends at the events there were when
	// it started (memory and sqlite do); without it a read may also yield
	// events appended while it runs (EventStoreDB documents neither).
	SnapshotReads bool

	// IdempotencyWindow is how many of the most recently written events'
	// IDs make a re-append with Any or StreamExists idempotent (memory and
	// sqlite: WithRecentIDs). The suite then checks the rule at the edge of
	// the window; 0 skips those checks, with a reason.
	IdempotencyWindow int

	// SystemStreams declares that the backend serves the category and
	// event-type streams of links ($ce-<category>, $et-<type>, see
	// eventstore.IsLinked) and resolves links (ResolveLinks), as the
	// embedded stores do, and EventStoreDB with its $by_category and
	// $by_event_type system projections running. The SystemStreams
	// subtests are skipped without it.
	SystemStreams bool

	// Timeout bounds each subtest: every wait of the suite (a subscription
	// message, a $maxAge expiry, a concurrent run) ends in failure after it.
	// 0 means DefaultTimeout. Raise it for remote backends on slow machines;
	// the suite never waits longer than it needs to.
	Timeout time.Duration

	// IgnoreGoroutines lists goroutines that the backend legitimately starts
	// on first use and keeps until Close (a client's connection pool, say),
	// so that the goroutine-leak checks do not report them. The leak checks
	// already warm the store up (append, read, subscribe) before taking their
	// snapshot, so most backends need nothing here.
	IgnoreGoroutines []goleak.Option

	// Reopen, for RunPersistent, closes s and returns a store over the same
	// data (a reopened file, a restarted server's client), registering its
	// cleanup. The restart checks (checkpoints, groups and parked messages
	// surviving a restart) are skipped when it is nil.
	Reopen func(t *testing.T, s eventstore.Store) eventstore.Store

	// UnsupportedStrategies, for RunPersistent, lists consumer strategies
	// the backend cannot create groups with (esdb: the v4 client has no
	// PinnedByCorrelation); their checks then require that creating such a
	// group fails with errors.ErrUnsupported instead.
	UnsupportedStrategies []eventstore.ConsumerStrategy

	// InfoWithoutFilter, for RunPersistent, declares that group info does
	// not report a $all group's filter (EventStoreDB's protocol carries
	// none); the check of the filter in the info is skipped.
	InfoWithoutFilter bool
}

func (f Features) timeout() time.Duration {
	if f.Timeout <= 0 {
		return DefaultTimeout
	}
	return f.Timeout
}

// Run runs the conformance suite against the backend that newStore creates.
//
// newStore is called once per subtest and must return a new, empty store
// (empty of user streams: a remote store may hold system events of its own)
// whose cleanup it registers itself, typically with t.Cleanup(func() {
// s.Close() }). Calling Close more than once must be safe, since the suite
// closes some stores itself.
//
// Most subtests run in parallel, each with its own store. The goroutine-leak
// checks do not, and need a quiet process: do not call Run from a test that
// calls t.Parallel.
func Run(t *testing.T, f Features, newStore func(t *testing.T) eventstore.Store) {
	t.Helper()
	if newStore == nil {
		t.Fatal("storetest: newStore is nil")
	}
	s := &suite{f: f, newStore: newStore}
	t.Run("Append", s.testAppend)
	t.Run("ExpectedRevision", s.testExpectedRevision)
	t.Run("Idempotency", s.testIdempotency)
	t.Run("IdempotencyWindow", s.testIdempotencyWindow)
	t.Run("Isolation", s.testIsolation)
	t.Run("ReadStream", s.testReadStream)
	t.Run("ReadAll", s.testReadAll)
	t.Run("Iterators", s.testIterators)
	t.Run("Delete", s.testDelete)
	t.Run("Tombstone", s.testTombstone)
	t.Run("Metadata", s.testMetadata)
	t.Run("Subscribe", s.testSubscribe)
	t.Run("Checkpoints", s.testCheckpoints)
	t.Run("SystemStreams", s.testSystemStreams)
	t.Run("Concurrency", s.testConcurrency)
	t.Run("InvalidArgument", s.testInvalid)
	t.Run("Lifecycle", s.testLifecycle)
	t.Run("Leaks", s.testLeaks)
}

// suite carries Run's arguments to the subtests.
type suite struct {
	f        Features
	newStore func(t *testing.T) eventstore.Store
}

// env is what one subtest works with: its own store, and a context that
// ends when the subtest's time is up.
type env struct {
	t   *testing.T
	s   eventstore.Store
	ctx context.Context
	f   Features
}

// run runs fn as a parallel subtest with a fresh store.
func (s *suite) run(t *testing.T, name string, fn func(e *env)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		fn(s.env(t))
	})
}

// serial runs fn as a subtest with a fresh store, not in parallel with
// anything (the leak checks need that).
func (s *suite) serial(t *testing.T, name string, fn func(e *env)) {
	t.Helper()
	t.Run(name, func(t *testing.T) { fn(s.env(t)) })
}

func (s *suite) env(t *testing.T) *env {
	t.Helper()
	st := s.newStore(t)
	if st == nil {
		t.Fatal("storetest: newStore returned nil")
	}
	ctx, cancel := context.WithTimeout(t.Context(), s.f.timeout())
	t.Cleanup(cancel)
	return &env{t: t, s: st, ctx: ctx, f: s.f}
}
