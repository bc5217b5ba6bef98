package resilience_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/resilience"
)

func TestTimeoutConfig(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		_, err := resilience.NewTimeout(d)
		wantConfigError(t, err, "duration")
	}
	_, err := resilience.NewTimeout(time.Second, nil)
	wantConfigError(t, err, "option")
	_, err = resilience.NewTimeout(time.Second, resilience.WithClock(nil))
	wantConfigError(t, err, "WithClock")
	_, err = resilience.NewTimeout(time.Second, resilience.WithMeterProvider(nil))
	wantConfigError(t, err, "WithMeterProvider")
	if !strings.Contains(err.Error(), "resilience: invalid timeout configuration") {
		t.Fatalf("message %q", err)
	}
}

func TestTimeoutSuccessGetsADeadlineThatEndsAfterTheCall(t *testing.T) {
	clk := newClock()
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(3*time.Second, resilience.WithClock(clk)))
	if to.Duration() != 3*time.Second {
		t.Fatalf("Duration = %v", to.Duration())
	}
	type key struct{}
	parent := context.WithValue(t.Context(), key{}, "v")
	var leaked context.Context
	err := resilience.Run(parent, func(ctx context.Context) error {
		leaked = ctx
		if d, ok := ctx.Deadline(); !ok || !d.Equal(t0.Add(3*time.Second)) {
			t.Errorf("Deadline = %v, %v", d, ok)
		}
		if ctx.Value(key{}) != "v" {
			t.Error("value of the parent context lost")
		}
		if ctx.Err() != nil {
			t.Errorf("Err = %v during the call", ctx.Err())
		}
		return nil
	}, to)
	if err != nil {
		t.Fatal(err)
	}
	if leaked.Err() != context.Canceled {
		t.Fatalf("context after the call: Err = %v, want Canceled", leaked.Err())
	}
	select {
	case <-leaked.Done():
	default:
		t.Fatal("Done of a finished call is not closed")
	}
	if s := leaked.(interface{ String() string }).String(); s != "resilience.Timeout" {
		t.Fatalf("String = %q", s)
	}
	if clk.Pending() > 1 {
		t.Fatalf("%d timers pending, want at most the one shared timer", clk.Pending())
	}
}

func TestTimeoutExpires(t *testing.T) {
	clk := newClock()
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Second, resilience.WithClock(clk), resilience.WithName("db")))
	errc := make(chan error, 1)
	go func() {
		errc <- to.Wrap(func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})(t.Context())
	}()
	waitTimers(t, clk, 1)
	clk.Advance(999 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("returned %v before the deadline", err)
	default:
	}
	clk.Advance(time.Millisecond)
	err := <-errc
	var te *resilience.TimeoutError
	if !errors.Is(err, resilience.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &te) {
		t.Fatalf("err = %v", err)
	}
	if te.Timeout != time.Second || te.Name != "db" {
		t.Fatalf("TimeoutError = %+v", te)
	}
	if !strings.Contains(err.Error(), `resilience: timeout "db"`) {
		t.Fatalf("message %q", err)
	}
}

func TestTimeoutExpiredButSucceeded(t *testing.T) {
	clk := newClock()
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Second, resilience.WithClock(clk)))
	err := to.Wrap(func(ctx context.Context) error {
		clk.Advance(2 * time.Second)
		if ctx.Err() != context.DeadlineExceeded {
			t.Errorf("Err after the deadline = %v", ctx.Err())
		}
		return nil // finished anyway
	})(t.Context())
	if err != nil {
		t.Fatalf("err = %v, want nil", err)
	}
}

func TestTimeoutFailureBeforeDeadlineIsPassedOn(t *testing.T) {
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Second, resilience.WithClock(newClock())))
	if err := resilience.Run(t.Context(), fail, to); err != errBoom {
		t.Fatalf("err = %v, want errBoom unchanged", err)
	}
}

func TestTimeoutKeepsAnEarlierParentDeadline(t *testing.T) {
	clk := newClock()
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Minute, resilience.WithClock(clk)))
	parent, cancel := context.WithDeadline(t.Context(), t0.Add(time.Second))
	defer cancel()
	err := resilience.Run(parent, func(ctx context.Context) error {
		if ctx != parent {
			t.Error("the call did not get the parent context")
		}
		return errBoom
	}, to)
	if err != errBoom {
		t.Fatalf("err = %v", err)
	}
}

func TestTimeoutFollowsParentCancellation(t *testing.T) {
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Minute, resilience.WithClock(newClock())))
	parent, cancel := context.WithCancel(t.Context())
	started := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- resilience.Run(parent, func(ctx context.Context) error {
			done := ctx.Done()
			close(started)
			<-done
			return ctx.Err()
		}, to)
	}()
	<-started
	cancel()
	if err := <-errc; err != context.Canceled || errors.Is(err, resilience.ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestTimeoutErrSeesParentWithoutDone(t *testing.T) {
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Minute, resilience.WithClock(newClock())))
	parent, cancel := context.WithCancel(t.Context())
	_ = resilience.Run(parent, func(ctx context.Context) error {
		cancel()
		if err := ctx.Err(); err != context.Canceled {
			t.Errorf("Err = %v", err)
		}
		select {
		case <-ctx.Done():
		default:
			t.Error("Done not closed although Err reported the parent's cancellation")
		}
		return nil
	}, to)
}

// TestTimeoutManyDeadlines runs calls with staggered deadlines, some of which
// finish early, and checks that exactly the others expire, each at its time.
func TestTimeoutManyDeadlines(t *testing.T) {
	clk := newClock()
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(10*time.Second, resilience.WithClock(clk)))
	const n = 40
	type call struct {
		finish chan struct{}
		err    chan error
		start  time.Time
	}
	calls := make([]call, n)
	var running sync.WaitGroup
	for i := range calls {
		c := call{finish: make(chan struct{}), err: make(chan error, 1), start: clk.Now()}
		calls[i] = c
		running.Add(1)
		go func() {
			c.err <- resilience.Run(t.Context(), func(ctx context.Context) error {
				running.Done()
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-c.finish:
					return nil
				}
			}, to)
		}()
		running.Wait()
		clk.Advance(100 * time.Millisecond)
	}
	for i := 0; i < n; i += 3 { // finish every third call early, from the middle of the heap
		close(calls[i].finish)
		if err := <-calls[i].err; err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for i := range calls {
		if i%3 == 0 {
			continue
		}
		clk.Advance(calls[i].start.Add(10 * time.Second).Sub(clk.Now()))
		if err := <-calls[i].err; !errors.Is(err, resilience.ErrTimeout) {
			t.Fatalf("call %d: err = %v, want a timeout", i, err)
		}
		for j := i + 1; j < n; j++ {
			if j%3 != 0 && len(calls[j].err) > 0 {
				t.Fatalf("call %d expired with call %d, before its time", j, i)
			}
		}
	}
}

// A callee that derives contexts from the call's context, as gRPC and
// database/sql clients do, must not start a goroutine per derived context:
// the Timeout's context offers the AfterFunc method package context uses.
func TestTimeoutDerivedContextsStartNoGoroutines(t *testing.T) {
	clk := newClock()
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Second, resilience.WithClock(clk)))
	parent, cancelParent := context.WithCancel(t.Context())
	defer cancelParent()
	const n = 50
	var before, during int
	err := resilience.Run(parent, func(ctx context.Context) error {
		before = runtime.NumGoroutine()
		for range n {
			c, cancel := context.WithCancel(ctx)
			defer cancel()
			c2, cancel2 := context.WithTimeout(c, time.Hour)
			defer cancel2()
			_ = c2.Done()
		}
		during = runtime.NumGoroutine()
		return nil
	}, to)
	if err != nil {
		t.Fatal(err)
	}
	if during-before >= n {
		t.Fatalf("goroutines: %d before deriving %d contexts, %d after; want no goroutine per derived context", before, 2*n, during)
	}
}

// Contexts derived from a Timeout's context end with it: at the deadline,
// with the parent, and when the call returns.
func TestTimeoutDerivedContextsEndWithIt(t *testing.T) {
	clk := newClock()
	to := must[*resilience.Timeout](t)(resilience.NewTimeout(time.Second, resilience.WithClock(clk)))

	t.Run("deadline", func(t *testing.T) {
		ran := make(chan struct{})
		err := resilience.Run(t.Context(), func(ctx context.Context) error {
			child, cancel := context.WithCancel(ctx)
			defer cancel()
			context.AfterFunc(ctx, func() { close(ran) })
			stopped := context.AfterFunc(ctx, func() { t.Error("a stopped AfterFunc ran") })
			if !stopped() || stopped() {
				t.Error("stop: want true once, then false")
			}
			clk.Advance(time.Second)
			<-child.Done()
			<-ran
			if child.Err() != context.DeadlineExceeded {
				t.Errorf("child Err = %v, want DeadlineExceeded", child.Err())
			}
			late := make(chan struct{})
			if context.AfterFunc(ctx, func() { close(late) })() {
				t.Error("stop after the end reported true")
			}
			<-late // registered after the end: runs at once
			return child.Err()
		}, to)
		if !errors.Is(err, resilience.ErrTimeout) {
			t.Fatalf("err = %v, want a timeout", err)
		}
	})
	t.Run("parent", func(t *testing.T) {
		parent, cancel := context.WithCancel(t.Context())
		_ = resilience.Run(parent, func(ctx context.Context) error {
			child, stop := context.WithCancel(ctx)
			defer stop()
			cancel()
			<-child.Done()
			if child.Err() != context.Canceled {
				t.Errorf("child Err = %v, want Canceled", child.Err())
			}
			return nil
		}, to)
	})
	t.Run("return", func(t *testing.T) {
		var child context.Context
		var stop context.CancelFunc
		_ = resilience.Run(t.Context(), func(ctx context.Context) error {
			child, stop = context.WithCancel(ctx)
			return nil
		}, to)
		defer stop()
		<-child.Done() // the call's end cancels it
		if child.Err() != context.Canceled {
			t.Errorf("child Err = %v, want Canceled", child.Err())
		}
	})
}
