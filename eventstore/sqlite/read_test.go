package sqlite_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// TestReadsKeepEveryEventsBytes reads many pages of events, of several
// streams, types and sizes (none empty, some without data or metadata),
// and checks each event only once all are read: events share no buffer
// with each other or with the driver's later rows.
func TestReadsKeepEveryEventsBytes(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	const n = 1500
	want := make([]eventstore.EventData, n)
	for i := range want {
		want[i] = eventstore.EventData{
			ID:          uuid.New(),
			Type:        fmt.Sprintf("Type%d", i%7),
			ContentType: []string{eventstore.ContentTypeJSON, eventstore.ContentTypeBinary}[i%2],
			Data:        []byte(fmt.Sprintf(`{"i":%d,"pad":"%*s"}`, i, i%300, "")),
			Metadata:    []byte(fmt.Sprintf(`{"m":%d}`, i)),
		}
		switch i % 11 {
		case 3:
			want[i].Data = nil
		case 5:
			want[i].Metadata = nil
		}
		mustAppend(t, s, fmt.Sprintf("s-%d", i%3), eventstore.Any, want[i])
	}
	check := func(what string, got []eventstore.RecordedEvent, index func(int) int) {
		t.Helper()
		if len(got) != n {
			t.Fatalf("%s: %d events", what, len(got))
		}
		for j, e := range got {
			i := index(j)
			w := want[i]
			if e.ID != w.ID || e.Type != w.Type || e.ContentType != w.ContentType || string(e.Data) != string(w.Data) ||
				string(e.Metadata) != string(w.Metadata) || e.Stream != fmt.Sprintf("s-%d", i%3) || e.Position.Commit == 0 {
				t.Fatalf("%s: event %d: %+v, want %+v", what, i, e, w)
			}
		}
	}
	var all []eventstore.RecordedEvent
	for e, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, e)
	}
	check("$all", all, func(j int) int { return j })
	var back []eventstore.RecordedEvent
	for e, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End}) {
		if err != nil {
			t.Fatal(err)
		}
		back = append(back, e)
	}
	check("$all backwards", back, func(j int) int { return n - 1 - j })
	var stream []eventstore.RecordedEvent
	for k := range 3 {
		for e, err := range s.ReadStream(ctx, fmt.Sprintf("s-%d", k), eventstore.ReadOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			stream = append(stream, e)
		}
	}
	check("streams", stream, func(j int) int { return j%(n/3)*3 + j/(n/3) })
}

// TestReadAllFromPositionsBetweenEvents reads $all from positions just
// before, at and just after each event's (a prepare part off by one), both
// ways, and checks that the store returns what the memory store does.
func TestReadAllFromPositionsBetweenEvents(t *testing.T) {
	ctx := context.Background()
	s, m := open(t), memory.New()
	defer m.Close()
	var evs []eventstore.EventData
	for i := range 4 {
		ev := event("E")
		evs = append(evs, ev)
		for _, st := range []eventstore.Store{s, m} {
			mustAppend(t, st, fmt.Sprintf("s-%d", i%2), eventstore.Any, ev)
		}
	}
	// read returns the indexes in evs of what a read of st from the
	// position of its event i, prepare moved by d, returns.
	read := func(st eventstore.Store, i int, d int64, dir eventstore.Direction) []int {
		var at eventstore.Position
		for e, err := range st.ReadAll(ctx, eventstore.ReadAllOptions{}) {
			if err != nil {
				t.Fatal(err)
			}
			if e.ID == evs[i].ID {
				at = e.Position
			}
		}
		at.Prepare = uint64(int64(at.Prepare) + d)
		var out []int
		for e, err := range st.ReadAll(ctx, eventstore.ReadAllOptions{From: eventstore.FromPosition(at), Direction: dir}) {
			if err != nil {
				t.Fatal(err)
			}
			for j := range evs {
				if evs[j].ID == e.ID {
					out = append(out, j)
				}
			}
		}
		return out
	}
	for i := range evs {
		for _, d := range []int64{-1, 0, 1} {
			for _, dir := range []eventstore.Direction{eventstore.Forwards, eventstore.Backwards} {
				if got, want := read(s, i, d, dir), read(m, i, d, dir); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("from event %d's position, prepare %+d, %v: %v; memory store: %v", i, d, dir, got, want)
				}
			}
		}
	}
}
