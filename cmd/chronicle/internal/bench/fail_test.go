package bench_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/cmd/chronicle/internal/bench"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

var errInjected = errors.New("injected failure")

// failing is a memory store whose operations fail where the URL says:
// "failing:<what>" with what one of 1w, 32w, batch, sub, long, all,
// readstream, readall, saga, aggregate.
type failing struct {
	eventstore.Store
	what string
}

func init() {
	eventstore.Register("failing", eventstore.DriverFunc(func(_ context.Context, url string) (eventstore.Store, error) {
		return &failing{Store: memory.New(), what: strings.TrimPrefix(url, "failing:")}, nil
	}))
}

func (f *failing) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, evs ...eventstore.EventData) (eventstore.AppendResult, error) {
	if strings.Contains(stream, "-"+f.what) {
		return eventstore.AppendResult{}, errInjected
	}
	return f.Store.Append(ctx, stream, expected, evs...)
}

func fail[T any]() iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, errInjected)
	}
}

func (f *failing) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if f.what == "readstream" {
		return fail[eventstore.RecordedEvent]()
	}
	return f.Store.ReadStream(ctx, stream, opts)
}

func (f *failing) ReadAll(ctx context.Context, opts eventstore.ReadAllOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if f.what == "readall" && opts.Direction == eventstore.Forwards {
		return fail[eventstore.RecordedEvent]()
	}
	return f.Store.ReadAll(ctx, opts)
}

func (f *failing) SubscribeToAll(ctx context.Context, opts eventstore.SubscribeAllOptions) iter.Seq2[eventstore.Message, error] {
	if f.what == "subscribe" {
		return fail[eventstore.Message]()
	}
	return f.Store.SubscribeToAll(ctx, opts)
}

func TestRunFailures(t *testing.T) {
	for _, what := range []string{"1w", "32w", "batch", "sub", "long", "all", "readstream", "readall", "subscribe", "saga", "aggregate"} {
		_, err := bench.Run(context.Background(), bench.Options{URL: "failing:" + what, Sizes: tiny})
		if !errors.Is(err, errInjected) {
			t.Errorf("%s: %v, want the injected failure", what, err)
		}
	}
}
