package projection

import (
	"context"
	"iter"
	"sync"
)

// A pump ranges over a subscription on a goroutine of its own into a
// buffered channel, so that a runner takes what has arrived in batches
// while the next messages are being received.
type pump[T any] struct {
	in     chan pumped[T]
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// pumped is a received value or the error that ended the subscription.
type pumped[T any] struct {
	v   T
	err error
}

// startPump ranges over subscribe(ctx) for a child ctx of ctx, handing over
// up to size values ahead, until the sequence ends, yields an error (handed
// over, then the pump ends) or stop is called. in is closed when it ends.
func startPump[T any](ctx context.Context, size int, subscribe func(context.Context) iter.Seq2[T, error]) *pump[T] {
	ctx, cancel := context.WithCancel(ctx)
	p := &pump[T]{in: make(chan pumped[T], size), cancel: cancel}
	p.wg.Go(func() {
		defer close(p.in)
		for v, err := range subscribe(ctx) {
			select {
			case p.in <- pumped[T]{v, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	return p
}

// stop ends the pump, drops what it handed over and waits for its
// goroutine.
func (p *pump[T]) stop() {
	p.cancel()
	for range p.in {
	}
	p.wg.Wait()
}

// gather appends first's value and those already handed over to batch, up
// to max values, and stops after a value last reports true for (nil: none
// ends a batch early). An error ends the gathering and is returned with
// the values before it.
func (p *pump[T]) gather(first pumped[T], batch []T, max int, last func(T) bool) ([]T, error) {
	for m := first; ; {
		if m.err != nil {
			return batch, m.err
		}
		batch = append(batch, m.v)
		if len(batch) == max || last != nil && last(m.v) {
			return batch, nil
		}
		var ok bool
		select {
		case m, ok = <-p.in:
			if ok {
				continue
			}
		default:
		}
		return batch, nil
	}
}
