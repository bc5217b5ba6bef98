package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// persistentConsumers is how many consumers share the bench's group.
const persistentConsumers = 4

// persistentEvents consumes this run's events of $all (r.placed of them,
// counted by readAll) through one persistent subscription group of $all
// filtered to the run's streams, created from the start, with 4 consumers
// (RoundRobin) that acknowledge every event one by one, and returns the
// events per second from the group's creation to the last ack. A store
// without the capability measures 0. The group is deleted afterwards.
func (r *runner) persistentEvents() (float64, error) {
	ps, ok := r.s.(eventstore.PersistentSubscriptions)
	if !ok || r.placed == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	group := eventstore.PersistentGroupOf(eventstore.AllStream, r.prefix)
	set := eventstore.DefaultPersistentSettings()
	set.Filter = eventstore.StreamPrefixFilter(r.prefix + "-")
	start := time.Now()
	if err := ps.CreatePersistentSubscription(ctx, group, set); err != nil {
		return 0, err
	}
	defer func() {
		// With its own deadline: a cancelled run deletes its group too.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(r.ctx), time.Minute)
		defer dcancel()
		_ = ps.DeletePersistentSubscription(dctx, group)
	}()
	var (
		acked   atomic.Int64
		done    = make(chan struct{})
		once    sync.Once
		mu      sync.Mutex
		firstEr error
		wg      sync.WaitGroup
	)
	want := int64(r.placed)
	for i := range persistentConsumers {
		sub, err := ps.SubscribePersistent(ctx, group, eventstore.PersistentSubscribeOptions{Name: fmt.Sprint("bench-", i), BufferSize: 64})
		if err != nil {
			return 0, err
		}
		wg.Go(func() {
			defer sub.Close()
			for {
				ev, err := sub.Recv(ctx)
				if err == nil {
					err = sub.Ack(ev.ID())
				}
				if err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstEr = cmpErr(firstEr, err)
						mu.Unlock()
						cancel()
					}
					return
				}
				if acked.Add(1) == want {
					once.Do(func() { close(done) })
				}
			}
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	if firstEr != nil {
		return 0, firstEr
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if n := acked.Load(); n < want {
		return 0, errors.New("the group delivered fewer events than the run wrote")
	}
	return rate(int(want), elapsed), nil
}
