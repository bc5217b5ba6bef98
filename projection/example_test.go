package projection_test

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

type UserRegistered struct {
	UserID string `json:"userId" jsonschema:"required,minLength=1"`
	Name   string `json:"name" jsonschema:"required"`
}

// An in-memory read model of users, kept up to date by a runner, with
// read-your-writes through WaitFor.
func Example() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	reg := schema.MustNewRegistry()
	schema.MustRegister[UserRegistered](reg, "UserRegistered", 1)

	var mu sync.Mutex
	users := map[string]string{}
	p := projection.New[projection.NoTx]("users", projection.Category("user"), reg)
	projection.Handle(p, func(ctx context.Context, ev projection.Event[UserRegistered]) error {
		mu.Lock()
		defer mu.Unlock()
		users[ev.Data.UserID] = ev.Data.Name // idempotent: at-least-once delivery
		return nil
	})
	runner, err := projection.NewRunner(store, p, projection.AtLeastOnce(projection.NewStreamCheckpoints(store), 100, 0))
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- runner.Run(ctx) }()

	for _, u := range []UserRegistered{{"u1", "Ada"}, {"u2", "Grace"}} {
		data, _ := reg.Encode(ctx, u)
		res, err := store.Append(ctx, "user-"+u.UserID, eventstore.NoStream, data)
		if err != nil {
			panic(err)
		}
		// Read your own write: wait until the read model has it.
		if err := runner.WaitFor(ctx, res.Position); err != nil {
			panic(err)
		}
		mu.Lock()
		fmt.Println(u.UserID, "→", users[u.UserID])
		mu.Unlock()
	}
	stop()
	fmt.Println("run:", <-done)
	// Output:
	// u1 → Ada
	// u2 → Grace
	// run: <nil>
}

// Poison events are parked, listed, and replayed once the handler is fixed.
func ExampleListParked() {
	ctx := context.Background()
	store := memory.New()
	defer store.Close()
	reg := schema.MustNewRegistry()
	schema.MustRegister[UserRegistered](reg, "UserRegistered", 1)
	broken := true
	p := projection.New[projection.NoTx]("users", projection.Category("user"), reg)
	projection.Handle(p, func(ctx context.Context, ev projection.Event[UserRegistered]) error {
		if broken && ev.Data.Name == "" {
			return fmt.Errorf("user %s has no name", ev.Data.UserID)
		}
		return nil
	})
	runner, _ := projection.NewRunner(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0),
		projection.WithRetry(noRetry{}))
	ctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- runner.Run(ctx) }()

	data, _ := reg.EncodeAll(ctx, UserRegistered{"u1", ""}, UserRegistered{"u1", "Ada"})
	res, _ := store.Append(ctx, "user-u1", eventstore.NoStream, data...)
	_ = runner.WaitFor(ctx, res.Position)
	parked, _ := projection.ListParked(ctx, store, "users")
	var lines []string
	for _, pe := range parked {
		lines = append(lines, fmt.Sprintf("%s@%d %s: %s", pe.Stream, pe.Revision, pe.Reason, pe.Error))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}

	broken = false
	replay, err := runner.ReplayParked(ctx)
	fmt.Printf("replayed %d, failed %d, err %v\n", replay.Replayed, replay.Failed, err)
	stop()
	<-done
	// Output:
	// user-u1@0 failed: projection users: user-u1@0 (UserRegistered): user u1 has no name
	// user-u1@1 blocked: an earlier event of "user-u1" is parked
	// replayed 2, failed 0, err <nil>
}

// noRetry is a resilience.Policy that calls once.
type noRetry struct{}

func (noRetry) Wrap(next func(context.Context) error) func(context.Context) error { return next }
