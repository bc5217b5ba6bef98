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

// total returns how many events sel reads from st, for a meter: exact for
// a stream (from its last revision), -1 for $all, whose size a store does
// not tell without reading it.
func (s *selection) total(ctx context.Context, st eventstore.Store) int64 {
	if s.isAll() {
		return -1
	}
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
