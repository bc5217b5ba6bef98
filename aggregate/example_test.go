package aggregate_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
)

// exampleRepository sets up what a service sets up once: a store, a schema
// registry with the event types, and a repository of accounts (see
// accountType and evolve).
func exampleRepository(opts ...aggregate.Option) *aggregate.Repository[Account] {
	registry := schema.MustNewRegistry()
	if err := registerAccountEvents(registry); err != nil {
		panic(err)
	}
	repo, err := aggregate.NewRepository(memory.New(), registry, accountType, opts...)
	if err != nil {
		panic(err)
	}
	return repo
}

func ExampleRepository_Execute() {
	ctx := context.Background()
	accounts := exampleRepository()

	res, err := accounts.Create(ctx, "42", func(Account) ([]any, error) {
		return []any{Opened{Owner: "ada"}}, nil
	})
	fmt.Println(res.State.Owner, res.Revision, err)

	withdraw := func(amount int) aggregate.Decision[Account] {
		return func(a Account) ([]any, error) {
			if a.Balance < amount {
				return nil, errors.New("insufficient funds")
			}
			return []any{Withdrawn{Amount: amount}}, nil
		}
	}
	res, err = accounts.Execute(ctx, "42", func(Account) ([]any, error) {
		return []any{Deposited{Amount: 30}, Deposited{Amount: 12}}, nil
	})
	fmt.Println(res.State.Balance, res.Revision, err)
	_, err = accounts.Update(ctx, "42", withdraw(100))
	fmt.Println(errors.Is(err, aggregate.ErrRejected), err)
	// Output:
	// ada 0 <nil>
	// 42 2 <nil>
	// true aggregate: "account-42": rejected: insufficient funds
}

func ExampleRepository_Create_alreadyExists() {
	ctx := context.Background()
	accounts := exampleRepository()
	open := func(Account) ([]any, error) { return []any{Opened{Owner: "ada"}}, nil }

	accounts.Create(ctx, "42", open)
	_, err := accounts.Create(ctx, "42", open)
	fmt.Println(errors.Is(err, aggregate.ErrAlreadyExists))
	_, err = accounts.Update(ctx, "43", open)
	fmt.Println(err)
	// Output:
	// true
	// aggregate: "account-43" not found
}

func ExampleRepository_Execute_invalidEvent() {
	ctx := context.Background()
	accounts := exampleRepository()

	_, err := accounts.Execute(ctx, "42", func(Account) ([]any, error) {
		return []any{Deposited{Amount: 0}}, nil // the schema says minimum 1
	})
	var invalid *schema.ValidationError
	fmt.Println(errors.Is(err, aggregate.ErrInvalidEvent), errors.As(err, &invalid))
	fmt.Println(invalid.Violations[0])
	// Output:
	// true true
	// /amount: minimum: must be >= 1 but found 0
}

func ExampleRepository_Replay() {
	ctx := context.Background()
	accounts := exampleRepository()
	accounts.Create(ctx, "42", func(Account) ([]any, error) { return []any{Opened{Owner: "ada"}}, nil })
	accounts.Update(ctx, "42", func(Account) ([]any, error) { return []any{Deposited{Amount: 30}}, nil })
	accounts.Update(ctx, "42", func(Account) ([]any, error) { return []any{Withdrawn{Amount: 5}}, nil })

	for step, err := range accounts.Replay(ctx, "42") {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%d %-14s balance %d\n", step.Event.Record.Revision, step.Event.Type, step.State.Balance)
	}
	a, _ := accounts.LoadAt(ctx, "42", 1)
	fmt.Println("at revision 1:", a.State.Balance)
	// Output:
	// 0 AccountOpened  balance 0
	// 1 MoneyDeposited balance 30
	// 2 MoneyWithdrawn balance 25
	// at revision 1: 30
}

func ExampleWithSnapshotEvery() {
	ctx := context.Background()
	accounts := exampleRepository(aggregate.WithSnapshotEvery(100))
	accounts.Create(ctx, "42", func(Account) ([]any, error) { return []any{Opened{Owner: "ada"}}, nil })
	for range 120 {
		accounts.Update(ctx, "42", func(Account) ([]any, error) { return []any{Deposited{Amount: 1}}, nil })
	}
	// The load reads the snapshot taken at revision 99 and 21 events.
	a, _ := accounts.Load(ctx, "42")
	fmt.Println(a.State.Balance, a.Revision, accounts.Type().SnapshotStream("42"))
	// Output:
	// 120 120 chronicle-snapshot-account-42
}
