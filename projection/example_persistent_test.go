package projection_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/projection"
	"github.com/chronicle-go/chronicle/schema"
)

// Two instances of a projection share its events through a persistent
// subscription group: each event is handled by one of them (at least
// once: the handler is idempotent), in no particular order.
func ExampleWithPersistentGroup() {
	ctx, stop := context.WithCancel(context.Background())
	store := memory.New()
	defer store.Close()
	reg := schema.MustNewRegistry()
	schema.MustRegister[UserRegistered](reg, "UserRegistered", 1)

	var mu sync.Mutex
	welcomed := map[string]bool{} // user ID → welcome sent; shared by both instances here
	all := make(chan struct{})
	var runs sync.WaitGroup
	for _, instance := range []string{"instance-a", "instance-b"} {
		p := projection.New[projection.NoTx]("welcome", projection.Category("user"), reg)
		projection.Handle(p, func(ctx context.Context, ev projection.Event[UserRegistered]) error {
			mu.Lock()
			defer mu.Unlock()
			if !welcomed[ev.Data.UserID] { // idempotent: a redelivery sends nothing twice
				welcomed[ev.Data.UserID] = true
				if len(welcomed) == 3 {
					close(all)
				}
			}
			return nil
		})
		runner, err := projection.NewRunner(store, p, projection.AtLeastOnce(&projection.MemoryCheckpoints{}, 0, 0),
			projection.WithPersistentGroup("welcome", eventstore.DefaultPersistentSettings()),
			projection.WithConsumerName(instance))
		if err != nil {
			panic(err)
		}
		runs.Go(func() {
			if err := runner.Run(ctx); err != nil {
				panic(err)
			}
		})
	}
	for _, u := range []UserRegistered{{"u1", "Ada"}, {"u2", "Grace"}, {"u3", "Barbara"}} {
		data, _ := reg.Encode(ctx, u)
		if _, err := store.Append(ctx, "user-"+u.UserID, eventstore.NoStream, data); err != nil {
			panic(err)
		}
	}
	<-all
	stop()
	runs.Wait()
	fmt.Println(len(welcomed), "users welcomed")
	// Output: 3 users welcomed
}
