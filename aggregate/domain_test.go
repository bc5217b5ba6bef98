package aggregate_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The test domain: a bank account.

type Opened struct {
	Owner string `json:"owner" jsonschema:"required,minLength=1"`
}

type Deposited struct {
	Amount int `json:"amount" jsonschema:"required,minimum=1"`
}

type Withdrawn struct {
	Amount int `json:"amount" jsonschema:"required,minimum=1"`
}

// Unregistered is a type the registry does not know.
type Unregistered struct{}

type Account struct {
	Owner   string `json:"owner"`
	Balance int    `json:"balance"`
	Events  int    `json:"events"`
}

func evolve(a Account, event any) Account {
	switch e := event.(type) {
	case Opened:
		a.Owner = e.Owner
	case Deposited:
		a.Balance += e.Amount
	case Withdrawn:
		a.Balance -= e.Amount
	}
	a.Events++
	return a
}

var accountType = aggregate.Type[Account]{Category: "account", Evolve: evolve}

var errInsufficient = errors.New("insufficient funds")

func open(owner string) aggregate.Decision[Account] {
	return func(Account) ([]any, error) { return []any{Opened{Owner: owner}}, nil }
}

func deposit(amounts ...int) aggregate.Decision[Account] {
	return func(Account) ([]any, error) {
		out := make([]any, len(amounts))
		for i, a := range amounts {
			out[i] = &Deposited{Amount: a} // pointers work too
		}
		return out, nil
	}
}

func withdraw(amount int) aggregate.Decision[Account] {
	return func(a Account) ([]any, error) {
		if a.Balance < amount {
			return nil, errInsufficient
		}
		return []any{Withdrawn{Amount: amount}}, nil
	}
}

// registerAccountEvents registers the test domain's events.
func registerAccountEvents(r *schema.Registry) error {
	return errors.Join(
		schema.Register[Opened](r, "AccountOpened", 1),
		schema.Register[Deposited](r, "MoneyDeposited", 1),
		schema.Register[Withdrawn](r, "MoneyWithdrawn", 1),
	)
}

func newRegistry(t testing.TB, opts ...schema.Option) *schema.Registry {
	t.Helper()
	r := schema.MustNewRegistry(opts...)
	if err := registerAccountEvents(r); err != nil {
		t.Fatal(err)
	}
	return r
}

type env struct {
	store *memory.Store
	reg   *schema.Registry
	repo  *aggregate.Repository[Account]
}

func newEnv(t testing.TB, opts ...aggregate.Option) env {
	t.Helper()
	e := env{store: memory.New(), reg: newRegistry(t)}
	t.Cleanup(func() { e.store.Close() })
	e.repo = mustRepo(t, e.store, e.reg, accountType, opts...)
	return e
}

func mustRepo[S any](t testing.TB, store eventstore.Store, reg *schema.Registry, typ aggregate.Type[S], opts ...aggregate.Option) *aggregate.Repository[S] {
	t.Helper()
	r, err := aggregate.NewRepository(store, reg, typ, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// mustDo returns a command's result; it panics (failing the test with a
// stack trace) if the command failed.
func mustDo[S any](res aggregate.Result[S], err error) aggregate.Result[S] {
	if err != nil {
		panic("command failed: " + err.Error())
	}
	return res
}

// faultyStore wraps a Store and fails the operations its hooks say.
type faultyStore struct {
	eventstore.Store
	mu       sync.Mutex
	append   func(stream string) error
	read     func(stream string) error
	setMeta  func(stream string) error
	appended []string
}

func (f *faultyStore) Append(ctx context.Context, stream string, exp eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	f.mu.Lock()
	f.appended = append(f.appended, stream)
	hook := f.append
	f.mu.Unlock()
	if hook != nil {
		if err := hook(stream); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return f.Store.Append(ctx, stream, exp, events...)
}

func (f *faultyStore) ReadStream(ctx context.Context, stream string, opts eventstore.ReadOptions) iter.Seq2[eventstore.RecordedEvent, error] {
	if f.read != nil {
		if err := f.read(stream); err != nil {
			return func(yield func(eventstore.RecordedEvent, error) bool) { yield(eventstore.RecordedEvent{}, err) }
		}
	}
	return f.Store.ReadStream(ctx, stream, opts)
}

func (f *faultyStore) SetStreamMetadata(ctx context.Context, stream string, exp eventstore.ExpectedRevision, meta eventstore.StreamMetadata) (eventstore.AppendResult, error) {
	if f.setMeta != nil {
		if err := f.setMeta(stream); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return f.Store.SetStreamMetadata(ctx, stream, exp, meta)
}

var errInjected = errors.New("injected failure")

func isSnapshotStream(stream string) bool { return strings.HasPrefix(stream, aggregate.SnapshotPrefix) }
