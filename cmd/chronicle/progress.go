package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/chronicle-go/chronicle/eventstore"
)

// A meter shows a long command's progress (export, import, replay,
// validate) on stderr: a bar with the count, the total, the rate and the
// time left when stderr is a terminal, and nothing at all when it is not
// (piped, redirected, in tests), so that it never mixes with output.
type meter struct {
	bar *progressbar.ProgressBar
	w   io.Writer
	// positional meters follow $all reads by position: the bar's value is
	// the event's commit position minus base (events, on the embedded
	// stores, whose positions count events one by one).
	positional bool
	base       uint64
}

// newMeter returns a meter of total items (events, or bytes with bytes set;
// -1: unknown, a counter with a rate) written to w when w is a terminal.
func newMeter(w io.Writer, label string, total int64, bytes bool) *meter {
	return newMeterIf(isTerminal(w), w, label, total, bytes)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func newMeterIf(show bool, w io.Writer, label string, total int64, bytes bool) *meter {
	if !show {
		return &meter{}
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(label),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true), progressbar.OptionShowCount())
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"))
	}
	return &meter{bar: progressbar.NewOptions64(total, opts...), w: w}
}

// event counts one more event read.
func (m *meter) event(e *eventstore.RecordedEvent) {
	if m.bar == nil {
		return
	}
	if m.positional {
		if e.Position.Commit > m.base {
			_ = m.bar.Set64(int64(e.Position.Commit - m.base))
		}
		return
	}
	_ = m.bar.Add(1)
}

// add counts n more items.
func (m *meter) add(n int) {
	if m.bar != nil {
		_ = m.bar.Add(n)
	}
}

// Write counts len(p) bytes, for an io.TeeReader.
func (m *meter) Write(p []byte) (int, error) {
	m.add(len(p))
	return len(p), nil
}

// done ends the bar, if there is one.
func (m *meter) done() {
	if m.bar != nil {
		_ = m.bar.Finish()
	}
}

// meter returns the meter of a read of sel from st: counted in events for a
// stream (the total from its last revision), and for $all in positions from
// where the read starts to the newest event, so that the bar has a total and
// an ETA there too (exact on the embedded stores, whose positions count
// events; an estimate on EventStoreDB, whose positions are log offsets).
func (s *selection) meter(ctx context.Context, st eventstore.Store, w io.Writer, label string) *meter {
	if !isTerminal(w) {
		return &meter{}
	}
	return s.meterIf(ctx, st, w, label, true)
}

func (s *selection) meterIf(ctx context.Context, st eventstore.Store, w io.Writer, label string, show bool) *meter {
	if !s.isAll() {
		return newMeterIf(show, w, label, s.total(ctx, st), false)
	}
	var head eventstore.Position
	for e, err := range st.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			return newMeterIf(show, w, label, -1, false)
		}
		head = e.Position
	}
	var base uint64
	if p, ok := s.start.Position(); ok && !s.backwards && p.Commit > 0 {
		base = p.Commit - 1
	}
	if s.backwards || head.Commit <= base {
		return newMeterIf(show, w, label, -1, false)
	}
	m := newMeterIf(show, w, label, int64(head.Commit-base), false)
	m.positional, m.base = true, base
	return m
}

// total returns how many events sel reads from a stream of st, for a
// meter: exact, from the stream's last revision.
func (s *selection) total(ctx context.Context, st eventstore.Store) int64 {
	var last uint64
	found := false
	for e, err := range st.ReadStream(ctx, s.stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			return -1
		}
		last, found = e.Revision, true
	}
	if !found {
		return 0
	}
	n := int64(last) + 1
	if first, ok := s.start.Revision(); ok && !s.backwards {
		n -= int64(min(first, last+1))
	}
	if s.count > 0 {
		n = min(n, int64(s.count))
	}
	return n
}
