package storetest

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
)

// testSystemStreams checks the category and event-type streams ($ce-, $et-)
// of links, and ResolveLinks on reads and subscriptions.
func (s *suite) testSystemStreams(t *testing.T) {
	if !s.f.SystemStreams {
		t.Skip("Features.SystemStreams is false: the backend does not serve $ce- and $et- streams")
	}
	s.run(t, "Content", s.systemContent)
	s.run(t, "Ranges", s.systemRanges)
	s.run(t, "ResolveLinks", s.systemResolve)
	s.run(t, "DeletedTargets", s.systemDeleted)
	s.run(t, "ReadOnly", s.systemReadOnly)
	s.run(t, "Subscribe", s.systemSubscribe)
	s.run(t, "SubscribeResolved", s.systemSubscribeResolved)
	s.run(t, "Concurrent", s.systemConcurrent)
}

// uniqueName returns a category or event type no other subtest uses: a
// remote store may be shared.
func uniqueName(prefix string) string {
	return prefix + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
}

// target is what a link must point to.
type target struct {
	stream string
	rev    uint64
	pos    eventstore.Position
	data   eventstore.EventData
}

// targets returns the targets of evs, the last events appended to stream.
func (e *env) targets(stream string, evs []eventstore.EventData) []target {
	e.t.Helper()
	got := e.mustRead(stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: uint64(len(evs))})
	got = reversed(got)
	out := make([]target, len(evs))
	for i := range evs {
		if d := sameEvent(got[i], evs[i]); d != "" {
			e.t.Fatalf("%s@%d: %s", stream, got[i].Revision, d)
		}
		out[i] = target{stream: stream, rev: got[i].Revision, pos: got[i].Position, data: evs[i]}
	}
	return out
}

// wantLinks fails unless got are links of stream at revisions first,
// first+1, … (first, first-1, … backwards) pointing to want.
func wantLinks(t *testing.T, what string, got []eventstore.RecordedEvent, stream string, first uint64, backwards bool, want []target) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d links %s, want %d", what, len(got), revisions(got), len(want))
	}
	for i, l := range got {
		rev := first + uint64(i)
		if backwards {
			rev = first - uint64(i)
		}
		w := want[i]
		wantData := fmt.Sprintf("%d@%s", w.rev, w.stream)
		switch {
		case l.Link != nil:
			t.Fatalf("%s: link %d has a Link, want a link event", what, i)
		case l.Stream != stream || l.Revision != rev:
			t.Fatalf("%s: link %d is %q@%d, want %q@%d", what, i, l.Stream, l.Revision, stream, rev)
		case l.Type != eventstore.LinkEventType || !l.IsLink():
			t.Fatalf("%s: link %d has type %q, want %q", what, i, l.Type, eventstore.LinkEventType)
		case string(l.Data) != wantData:
			t.Fatalf("%s: link %d has data %q, want %q", what, i, l.Data, wantData)
		case l.ID == uuid.Nil:
			t.Fatalf("%s: link %d has no ID", what, i)
		case l.Created.IsZero():
			t.Fatalf("%s: link %d has no Created time", what, i)
		}
		if ts, tr, ok := eventstore.ParseLink(l.Data); !ok || ts != w.stream || tr != w.rev {
			t.Fatalf("%s: ParseLink(%q) = %q, %d, %v", what, l.Data, ts, tr, ok)
		}
	}
}

// wantResolved fails unless got are the targets want, each reached through
// a link of stream at revisions first, first+1, ….
func wantResolved(t *testing.T, what string, got []eventstore.RecordedEvent, stream string, first uint64, want []target) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events %s, want %d", what, len(got), revisions(got), len(want))
	}
	links := make([]eventstore.RecordedEvent, len(got))
	for i, ev := range got {
		w := want[i]
		if ev.Link == nil {
			t.Fatalf("%s: event %d (%s@%d) was not reached through a link", what, i, ev.Stream, ev.Revision)
		}
		if ev.Stream != w.stream || ev.Revision != w.rev || ev.Position != w.pos {
			t.Fatalf("%s: event %d is %s@%d at %v, want %s@%d at %v", what, i, ev.Stream, ev.Revision, ev.Position, w.stream, w.rev, w.pos)
		}
		if d := sameEvent(ev, w.data); d != "" {
			t.Fatalf("%s: event %d: %s", what, i, d)
		}
		if ev.Original() != ev.Link {
			t.Fatalf("%s: event %d: Original() is not the link", what, i)
		}
		links[i] = *ev.Link
	}
	wantLinks(t, what+" (links)", links, stream, first, false, want)
}

// systemFixture appends events to streams of two categories and a stream
// without one, and returns the category, event type and the targets the
// category and type streams must hold.
type systemFixture struct {
	cat, typ, other string
	catLinks        []target // $ce-<cat>
	typLinks        []target // $et-<typ>
}

func (e *env) systemFixture() systemFixture {
	e.t.Helper()
	f := systemFixture{cat: uniqueName("order"), typ: uniqueName("Placed"), other: uniqueName("Other")}
	s1, s2 := f.cat+"-1", f.cat+"-2"
	nocat := uniqueName("nocategory")
	a := []eventstore.EventData{newEvent(f.typ), newEvent(f.other)}
	e.append(s1, eventstore.NoStream, a...)
	ta := e.targets(s1, a)
	b := []eventstore.EventData{newEvent(f.typ)}
	e.append(nocat, eventstore.NoStream, b...)
	tb := e.targets(nocat, b)
	// Metadata events are not linked.
	if _, err := e.s.SetStreamMetadata(e.ctx, s2, eventstore.Any, eventstore.StreamMetadata{MaxCount: 100}); err != nil {
		e.t.Fatalf("SetStreamMetadata: %v", err)
	}
	c := []eventstore.EventData{newEvent(f.other), newEvent(f.typ)}
	e.append(s2, eventstore.NoStream, c...)
	tc := e.targets(s2, c)
	d := []eventstore.EventData{newEvent(f.typ)}
	e.append(s1, eventstore.Exact(1), d...)
	td := e.targets(s1, d)
	f.catLinks = []target{ta[0], ta[1], tc[0], tc[1], td[0]}
	f.typLinks = []target{ta[0], tb[0], tc[1], td[0]}
	return f
}

func (s *suite) systemContent(e *env) {
	f := e.systemFixture()
	ce, et := eventstore.CategoryStream(f.cat), eventstore.EventTypeStream(f.typ)
	links := e.mustRead(ce, eventstore.ReadOptions{})
	wantLinks(e.t, "ReadStream("+ce+")", links, ce, 0, false, f.catLinks)
	wantLinks(e.t, "ReadStream("+et+")", e.mustRead(et, eventstore.ReadOptions{}), et, 0, false, f.typLinks)
	for i, l := range links {
		if l.Position != f.catLinks[i].pos {
			e.t.Fatalf("link %d has position %v, want its target's %v", i, l.Position, f.catLinks[i].pos)
		}
	}
	// IDs are stable and distinct.
	again := e.mustRead(ce, eventstore.ReadOptions{})
	seen := make(map[uuid.UUID]bool)
	for i := range links {
		if again[i].ID != links[i].ID {
			e.t.Fatalf("link %d has ID %v, then %v on a second read", i, links[i].ID, again[i].ID)
		}
		if seen[links[i].ID] {
			e.t.Fatalf("link %d has the ID %v of an earlier link", i, links[i].ID)
		}
		seen[links[i].ID] = true
	}
	// A stream name without '-' has no category; other types have their
	// own stream.
	e.wantNotFound(eventstore.CategoryStream(uniqueName("nocategory")))
	e.wantNotFound(eventstore.EventTypeStream(uniqueName("Never")))
	wantLinks(e.t, "$et- of the other type", e.mustRead(eventstore.EventTypeStream(f.other), eventstore.ReadOptions{}),
		eventstore.EventTypeStream(f.other), 0, false, []target{f.catLinks[1], f.catLinks[2]})
	// Links are not in $all.
	for _, ev := range e.readAll(eventstore.ReadAllOptions{}) {
		if ev.IsLink() || strings.HasPrefix(ev.Stream, eventstore.CategoryStreamPrefix+f.cat) || strings.HasPrefix(ev.Stream, eventstore.EventTypeStreamPrefix+f.typ) {
			e.t.Fatalf("ReadAll yielded %s@%d of type %q: links are not in $all", ev.Stream, ev.Revision, ev.Type)
		}
	}
}

func (s *suite) systemRanges(e *env) {
	f := e.systemFixture()
	ce := eventstore.CategoryStream(f.cat)
	want := f.catLinks // revisions 0..4
	cases := []struct {
		name     string
		opts     eventstore.ReadOptions
		first    uint64
		backward bool
		want     []target
	}{
		{"forwards from revision 2", eventstore.ReadOptions{From: eventstore.FromRevision(2)}, 2, false, want[2:]},
		{"forwards, max 2", eventstore.ReadOptions{MaxCount: 2}, 0, false, want[:2]},
		{"forwards from revision 3, max 1", eventstore.ReadOptions{From: eventstore.FromRevision(3), MaxCount: 1}, 3, false, want[3:4]},
		{"forwards from beyond the end", eventstore.ReadOptions{From: eventstore.FromRevision(9)}, 9, false, nil},
		{"forwards from the end", eventstore.ReadOptions{From: eventstore.End}, 0, false, nil},
		{"backwards from the end", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End}, 4, true, reversed(want)},
		{"backwards from revision 3, max 2", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.FromRevision(3), MaxCount: 2}, 3, true, reversed(want[2:4])},
		{"backwards from the start", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.Start}, 0, true, want[:1]},
	}
	for _, c := range cases {
		wantLinks(e.t, c.name, e.mustRead(ce, c.opts), ce, c.first, c.backward, c.want)
	}
}

func (s *suite) systemResolve(e *env) {
	f := e.systemFixture()
	ce, et := eventstore.CategoryStream(f.cat), eventstore.EventTypeStream(f.typ)
	wantResolved(e.t, "ReadStream("+ce+", ResolveLinks)", e.mustRead(ce, eventstore.ReadOptions{ResolveLinks: true}), ce, 0, f.catLinks)
	wantResolved(e.t, "ReadStream("+et+", ResolveLinks)", e.mustRead(et, eventstore.ReadOptions{ResolveLinks: true}), et, 0, f.typLinks)
	back := e.mustRead(ce, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.FromRevision(3), MaxCount: 2, ResolveLinks: true})
	wantResolved(e.t, "backwards, resolved", reversed(back), ce, 2, f.catLinks[2:4])
	// Events that are not links are returned as they are.
	for _, ev := range e.mustRead(f.cat+"-1", eventstore.ReadOptions{ResolveLinks: true}) {
		if ev.Link != nil {
			e.t.Fatalf("ReadStream(%s-1, ResolveLinks): %s@%d has a Link", f.cat, ev.Stream, ev.Revision)
		}
	}
	for _, ev := range e.readAll(eventstore.ReadAllOptions{ResolveLinks: true}) {
		if ev.Link != nil && !eventstore.IsSystemStream(ev.Link.Stream) {
			e.t.Fatalf("ReadAll(ResolveLinks): %s@%d reached through a link of a user stream", ev.Stream, ev.Revision)
		}
	}
}

func (s *suite) systemDeleted(e *env) {
	f := e.systemFixture()
	ce := eventstore.CategoryStream(f.cat)
	// Soft-delete <cat>-1 (links 0, 1, 4), then append to it again: the
	// new event gets a link that resolves, the old ones do not.
	if _, err := e.s.Delete(e.ctx, f.cat+"-1", eventstore.Any); err != nil {
		e.t.Fatalf("Delete: %v", err)
	}
	more := []eventstore.EventData{newEvent(f.typ)}
	e.append(f.cat+"-1", eventstore.Any, more...)
	tm := e.targets(f.cat+"-1", more)
	// Tombstone <cat>-2 (links 2, 3).
	if _, err := e.s.Tombstone(e.ctx, f.cat+"-2", eventstore.Any); err != nil {
		e.t.Fatalf("Tombstone: %v", err)
	}
	all := append(append([]target(nil), f.catLinks...), tm[0])
	wantLinks(e.t, "links after the deletes", e.mustRead(ce, eventstore.ReadOptions{}), ce, 0, false, all)
	got := e.mustRead(ce, eventstore.ReadOptions{ResolveLinks: true})
	if len(got) != len(all) {
		e.t.Fatalf("resolved read: %d events %s, want %d", len(got), revisions(got), len(all))
	}
	wantLinks(e.t, "links to deleted events, resolved", got[:5], ce, 0, false, f.catLinks)
	wantResolved(e.t, "the link to the new event", got[5:], ce, 5, tm)
	// The same through a subscription.
	sub := e.subscribeStream(ce, eventstore.SubscribeOptions{ResolveLinks: true})
	caught := sub.caughtUp()
	if len(caught) != len(all) {
		e.t.Fatalf("subscription: %d events %s, want %d", len(caught), revisions(caught), len(all))
	}
	wantLinks(e.t, "subscription: links to deleted events", caught[:5], ce, 0, false, f.catLinks)
	wantResolved(e.t, "subscription: the link to the new event", caught[5:], ce, 5, tm)
	// A truncated target does not resolve either.
	if _, err := e.s.SetStreamMetadata(e.ctx, f.cat+"-1", eventstore.Any, eventstore.StreamMetadata{TruncateBefore: tm[0].rev + 1}); err != nil {
		e.t.Fatalf("SetStreamMetadata: %v", err)
	}
	last := e.mustRead(ce, eventstore.ReadOptions{From: eventstore.FromRevision(5), ResolveLinks: true})
	wantLinks(e.t, "a link to a truncated event, resolved", last, ce, 5, false, tm)
}

func (s *suite) systemReadOnly(e *env) {
	f := e.systemFixture()
	ce, et := eventstore.CategoryStream(f.cat), eventstore.EventTypeStream(f.typ)
	for _, name := range []string{ce, et} {
		_, err := e.s.Append(e.ctx, name, eventstore.Any, newEvent(f.typ))
		wantErr(e.t, "Append("+name+")", err, eventstore.ErrReservedStreamName)
		_, err = e.s.Delete(e.ctx, name, eventstore.Any)
		wantErr(e.t, "Delete("+name+")", err, eventstore.ErrReservedStreamName)
		_, err = e.s.Tombstone(e.ctx, name, eventstore.Any)
		wantErr(e.t, "Tombstone("+name+")", err, eventstore.ErrReservedStreamName)
	}
	wantLinks(e.t, "after refused writes", e.mustRead(ce, eventstore.ReadOptions{}), ce, 0, false, f.catLinks)
	wantLinks(e.t, "after refused writes", e.mustRead(et, eventstore.ReadOptions{}), et, 0, false, f.typLinks)
}

func (s *suite) systemSubscribe(e *env) {
	f := e.systemFixture()
	ce := eventstore.CategoryStream(f.cat)
	sub := e.subscribeStream(ce, eventstore.SubscribeOptions{})
	from2 := e.subscribeStream(ce, eventstore.SubscribeOptions{From: eventstore.FromRevision(2)})
	fromEnd := e.subscribeStream(ce, eventstore.SubscribeOptions{From: eventstore.End})
	wantLinks(e.t, "catch-up", sub.caughtUp(), ce, 0, false, f.catLinks)
	wantLinks(e.t, "catch-up after revision 2", from2.caughtUp(), ce, 3, false, f.catLinks[3:])
	if got := fromEnd.caughtUp(); len(got) > 0 {
		e.t.Fatalf("subscription from the end caught up with %s", revisions(got))
	}
	// Live: a new stream of the category, and an event of another one.
	live := []eventstore.EventData{newEvent(f.typ), newEvent(f.other)}
	e.append(uniqueName("else")+"-1", eventstore.Any, newEvent(f.typ))
	e.append(f.cat+"-3", eventstore.NoStream, live...)
	tl := e.targets(f.cat+"-3", live)
	for name, s := range map[string]*subscription{"from the start": sub, "from revision 2": from2, "from the end": fromEnd} {
		wantLinks(e.t, "live, "+name, s.events(2), ce, 5, false, tl)
	}
	// A category stream that does not exist yet.
	cat := uniqueName("fresh")
	fresh := e.subscribeStream(eventstore.CategoryStream(cat), eventstore.SubscribeOptions{})
	if got := fresh.caughtUp(); len(got) > 0 {
		e.t.Fatalf("subscription to an empty category caught up with %s", revisions(got))
	}
	evs := []eventstore.EventData{newEvent("Created")}
	e.append(cat+"-1", eventstore.NoStream, evs...)
	wantLinks(e.t, "live, new category", fresh.events(1), eventstore.CategoryStream(cat), 0, false, e.targets(cat+"-1", evs))
}

func (s *suite) systemSubscribeResolved(e *env) {
	f := e.systemFixture()
	et := eventstore.EventTypeStream(f.typ)
	sub := e.subscribeStream(et, eventstore.SubscribeOptions{ResolveLinks: true})
	wantResolved(e.t, "catch-up, resolved", sub.caughtUp(), et, 0, f.typLinks)
	from1 := e.subscribeStream(et, eventstore.SubscribeOptions{From: eventstore.FromRevision(1), ResolveLinks: true})
	wantResolved(e.t, "catch-up after revision 1, resolved", from1.caughtUp(), et, 2, f.typLinks[2:])
	live := []eventstore.EventData{newEvent(f.typ), newEvent(f.typ)}
	e.append(f.cat+"-9", eventstore.NoStream, live...)
	tl := e.targets(f.cat+"-9", live)
	wantResolved(e.t, "live, resolved", sub.events(2), et, 4, tl)
	wantResolved(e.t, "live after revision 1, resolved", from1.events(2), et, 4, tl)
	// $all subscriptions with ResolveLinks deliver the events themselves.
	all := e.subscribeAll(eventstore.SubscribeAllOptions{From: eventstore.FromPosition(tl[0].pos), ResolveLinks: true})
	got := all.caughtUp()
	if len(got) != 1 || got[0].Link != nil || got[0].Stream != tl[1].stream || got[0].Revision != tl[1].rev {
		e.t.Fatalf("SubscribeToAll(ResolveLinks) caught up with %s, want %s@%d without a link", revisions(got), tl[1].stream, tl[1].rev)
	}
}

// systemConcurrent has writers append to streams of one category while a
// subscriber follows its $ce- stream from the start and another its $et-
// stream, resolved: each receives every event exactly once, at dense
// revisions, in position order, and what they received is what a read
// returns afterwards.
func (s *suite) systemConcurrent(e *env) {
	const writers, appends, perAppend = 4, 25, 2
	const total = writers * appends * perAppend
	cat, typ := uniqueName("load"), uniqueName("Loaded")
	ce, et := eventstore.CategoryStream(cat), eventstore.EventTypeStream(typ)
	catSub := e.subscribeStream(ce, eventstore.SubscribeOptions{})
	typSub := e.subscribeStream(et, eventstore.SubscribeOptions{ResolveLinks: true})
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("%s-%d", cat, w)
			for range appends {
				if _, err := e.s.Append(e.ctx, stream, eventstore.Any, newEvents(perAppend, typ)...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	// Receive while the writers write.
	var links, resolved []eventstore.RecordedEvent
	links = append(links, catSub.events(total)...)
	resolved = append(resolved, typSub.events(total)...)
	wg.Wait()
	close(errs)
	for err := range errs {
		e.t.Fatalf("Append: %v", err)
	}
	check := func(what, stream string, got []eventstore.RecordedEvent) {
		e.t.Helper()
		next := make(map[string]uint64) // next revision per target stream
		for i, ev := range got {
			l := ev.Original()
			if l.Stream != stream || l.Revision != uint64(i) {
				e.t.Fatalf("%s: message %d is %s@%d, want %s@%d", what, i, l.Stream, l.Revision, stream, i)
			}
			if i > 0 && l.Position.Compare(got[i-1].Original().Position) <= 0 {
				e.t.Fatalf("%s: link %d at %v is not after %v", what, i, l.Position, got[i-1].Original().Position)
			}
			ts, tr, ok := eventstore.ParseLink(l.Data)
			if !ok || tr != next[ts] {
				e.t.Fatalf("%s: link %d points to %q (%d@%s), want revision %d of it", what, i, l.Data, tr, ts, next[ts])
			}
			next[ts]++
		}
	}
	check("$ce- subscription", ce, links)
	check("$et- subscription", et, resolved)
	for i, ev := range resolved {
		if ev.Link == nil || ev.Type != typ {
			e.t.Fatalf("$et- subscription: message %d was not resolved", i)
		}
	}
	read := e.mustRead(ce, eventstore.ReadOptions{})
	if len(read) != total {
		e.t.Fatalf("ReadStream(%s): %d links, want %d", ce, len(read), total)
	}
	for i := range read {
		if read[i].ID != links[i].ID || string(read[i].Data) != string(links[i].Data) || read[i].Position != links[i].Position {
			e.t.Fatalf("ReadStream(%s): link %d differs from the one the subscription delivered", ce, i)
		}
	}
}
