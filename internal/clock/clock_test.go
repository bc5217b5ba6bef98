package clock_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/internal/clock"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestFakeRunsDueFunctionsInOrder(t *testing.T) {
	c := clock.NewFake(t0)
	var got []string
	c.AfterFunc(3*time.Second, func() { got = append(got, "c") })
	c.AfterFunc(time.Second, func() {
		got = append(got, "a")
		if !c.Now().Equal(t0.Add(time.Second)) {
			t.Errorf("a ran at %v", c.Now())
		}
		c.AfterFunc(time.Second, func() { got = append(got, "b") }) // due at 2s, before c
	})
	stopD := c.AfterFunc(2500*time.Millisecond, func() { got = append(got, "d") })
	c.AfterFunc(3*time.Second, func() { got = append(got, "c2") })
	if d, ok := c.Next(); !ok || d != time.Second {
		t.Fatalf("Next = %v, %v; want 1s", d, ok)
	}
	if !stopD() {
		t.Fatal("stop of a pending function reported false")
	}
	if stopD() {
		t.Fatal("second stop reported true")
	}
	if n := c.Pending(); n != 3 {
		t.Fatalf("Pending = %d, want 3", n)
	}
	c.Advance(5 * time.Second)
	want := []string{"a", "b", "c", "c2"}
	if len(got) != len(want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ran %v, want %v", got, want)
		}
	}
	if !c.Now().Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("Now = %v", c.Now())
	}
	if _, ok := c.Next(); ok {
		t.Fatal("Next reported a timer on an empty clock")
	}
}

func TestFakeAdvanceStopsBeforeLaterTimers(t *testing.T) {
	c := clock.NewFake(t0)
	var ran atomic.Bool
	c.AfterFunc(2*time.Second, func() { ran.Store(true) })
	c.Advance(time.Second)
	if ran.Load() {
		t.Fatal("ran before its time")
	}
	c.Advance(time.Second)
	if !ran.Load() {
		t.Fatal("did not run at its time")
	}
}

func TestFakeZeroDelayRunsAtOnce(t *testing.T) {
	c := clock.NewFake(t0)
	done := make(chan struct{})
	stop := c.AfterFunc(0, func() { close(done) })
	<-done
	if stop() {
		t.Fatal("stop after running reported true")
	}
}

func TestFakeWaitPending(t *testing.T) {
	c := clock.NewFake(t0)
	go func() { c.AfterFunc(time.Second, func() {}) }()
	if err := c.WaitPending(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.WaitPending(ctx, 2); err != context.Canceled {
		t.Fatalf("WaitPending on a canceled context = %v", err)
	}
}

func TestSystemClock(t *testing.T) {
	before := time.Now()
	if now := clock.System.Now(); now.Before(before) {
		t.Fatalf("System.Now = %v, before %v", now, before)
	}
	done := make(chan struct{})
	clock.System.AfterFunc(time.Nanosecond, func() { close(done) })
	<-done
	stop := clock.System.AfterFunc(time.Hour, func() { t.Error("ran") })
	if !stop() {
		t.Fatal("stop reported false")
	}
}

func TestSleep(t *testing.T) {
	c := clock.NewFake(t0)
	if err := clock.Sleep(t.Context(), c, 0); err != nil {
		t.Fatalf("Sleep(0) = %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- clock.Sleep(t.Context(), c, time.Second) }()
	if err := c.WaitPending(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatalf("Sleep = %v after the time passed", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- clock.Sleep(ctx, c, time.Second) }()
	if err := c.WaitPending(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Sleep = %v, want Canceled", err)
	}
	if c.Pending() != 0 {
		t.Errorf("%d timers left after a cancelled Sleep", c.Pending())
	}
	if err := clock.Sleep(ctx, clock.System, -1); err != context.Canceled {
		t.Errorf("Sleep(-1) on an ended context = %v", err)
	}
}

func TestFakeSet(t *testing.T) {
	c := clock.NewFake(t0)
	var ran []int
	c.AfterFunc(time.Second, func() { ran = append(ran, 1) })
	c.AfterFunc(3*time.Second, func() { ran = append(ran, 3) })
	c.Set(t0.Add(2 * time.Second))
	if len(ran) != 1 || !c.Now().Equal(t0.Add(2*time.Second)) {
		t.Fatalf("after Set forward: ran %v, now %v", ran, c.Now())
	}
	c.Set(t0) // back: nothing runs, the pending one waits for its time
	if len(ran) != 1 || !c.Now().Equal(t0) || c.Pending() != 1 {
		t.Fatalf("after Set back: ran %v, now %v, %d pending", ran, c.Now(), c.Pending())
	}
	if got := c.Advance(3 * time.Second); !got.Equal(t0.Add(3*time.Second)) || len(ran) != 2 {
		t.Fatalf("Advance = %v, ran %v", got, ran)
	}
}
