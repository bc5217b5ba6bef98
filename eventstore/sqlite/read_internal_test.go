package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestUnpackRejectsLengthsBeyondTheRow(t *testing.T) {
	row := append(make([]byte, 16), "TypeStreamDataMeta"...)
	r := recent{intern: func(b []byte) string { return string(b) }}
	for _, lens := range [][3]int64{{-1, 0, 0}, {0, -1, 0}, {0, 0, -1}, {4, 6, 9}, {19, 0, 0}} {
		var e eventstore.RecordedEvent
		if err := r.unpack(&e, row, lens[0], lens[1], lens[2]); !errors.Is(err, errCorrupt) {
			t.Errorf("lengths %v: %v, want errCorrupt", lens, err)
		}
	}
	var e eventstore.RecordedEvent
	if err := r.unpack(&e, row, 4, 6, 4); err != nil {
		t.Fatal(err)
	}
	if e.Type != "Type" || e.Stream != "Stream" || string(e.Data) != "Data" || string(e.Metadata) != "Meta" || cap(e.Data) != 4 {
		t.Fatalf("unpacked %+v", e)
	}
	var bare eventstore.RecordedEvent
	if err := r.unpack(&bare, row[:16+4], 4, 0, 0); err != nil || bare.Data != nil || bare.Metadata != nil || bare.Stream != "" {
		t.Fatalf("a row without data or metadata: %+v, %v", bare, err)
	}
}

// rawStore opens a store in a temporary directory with n events in one
// stream.
func rawStore(t *testing.T, n int) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "raw.db"), WithReaders(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = eventstore.EventData{Type: "T", Data: []byte(`{}`)}
	}
	if _, err := s.Append(context.Background(), "raw", eventstore.Any, evs...); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRawQueryInterrupted(t *testing.T) {
	s := rawStore(t, 10)
	c, err := s.raw.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.raw.put(c)
	st, err := c.stmt(allFwd)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite3.Xsqlite3_reset(c.tls, st)
	for i, a := range []int64{1, 100, 100} {
		sqlite3.Xsqlite3_bind_int64(c.tls, st, int32(i+1), a)
	}
	if rc := sqlite3.Xsqlite3_step(c.tls, st); rc != sqlite3.SQLITE_ROW {
		t.Fatalf("step: %v", c.err(rc))
	}
	c.interrupt()
	rc := sqlite3.Xsqlite3_step(c.tls, st)
	if err := c.err(rc); resultCode(err) != sqlite3.SQLITE_INTERRUPT || !strings.Contains(err.Error(), "interrupt") {
		t.Fatalf("step after interrupt: %v", err)
	}
}

func TestRawReadCancelled(t *testing.T) {
	s := rawStore(t, 3*pageRows)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got int
	var last error
	for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			last = err
			break
		}
		if got++; got == 1 {
			cancel()
		}
	}
	if !errors.Is(last, context.Canceled) || got != pageRows {
		t.Fatalf("read %d events, then %v", got, last)
	}
	// The connection went back to the pool and reads again.
	n := 0
	for _, err := range s.ReadStream(context.Background(), "raw", eventstore.ReadOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3*pageRows {
		t.Fatalf("read %d events", n)
	}
}

func TestRawPool(t *testing.T) {
	s := rawStore(t, 1)
	// Every connection in use: get waits until ctx is done.
	c, err := s.raw.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.raw.get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("get with all in use: %v", err)
	}
	s.raw.put(c)
	// A file that cannot be opened.
	bad := newRawPool("file:"+filepath.Join(t.TempDir(), "none", "x.db")+"?mode=ro", 1)
	if _, err := bad.get(context.Background()); err == nil || resultCode(err) != 14 { // SQLITE_CANTOPEN
		t.Fatalf("open of a missing file: %v", err)
	}
	bad.close()
	if _, err := bad.get(context.Background()); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("get from a closed pool: %v", err)
	}
	if !isIOError(&rawError{code: codeIOErr | 3<<8}) || isIOError(&rawError{code: codeFull}) {
		t.Fatal("isIOError misreads raw errors")
	}
}

// TestRawReadsCancelledAndClosedConcurrently: reads cancelled at random
// moments, on a pool smaller than the readers, then a Close while reads
// run; every read ends with its events, its context's error or ErrClosed.
func TestRawReadsCancelledAndClosedConcurrently(t *testing.T) {
	s := rawStore(t, 4*pageRows)
	s.raw = newRawPool(s.dsn("mode=ro"), 2)
	read := func(ctx context.Context) error {
		for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration((g*20+i)%40)*100*time.Microsecond)
				if err := read(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Error(err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	for range 4 {
		wg.Go(func() {
			for {
				if err := read(context.Background()); errors.Is(err, eventstore.ErrClosed) {
					return
				} else if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
