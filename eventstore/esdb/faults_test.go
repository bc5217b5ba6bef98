package esdb_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/chronicle-go/chronicle/eventstore"
	cesdb "github.com/chronicle-go/chronicle/eventstore/esdb"
)

func newEvent(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{}`)}
}

// collect ranges over seq and returns what it yielded and the error that
// ended it.
func collect[T any](t *testing.T, seq func(func(T, error) bool)) ([]T, error) {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func TestAppendRetries(t *testing.T) {
	unavailable := failWith(codes.Unavailable, "node restarting")
	for _, c := range []struct {
		name     string
		expected eventstore.ExpectedRevision
		fail     error
		retried  bool
		want     error // when not retried
	}{
		{"ExactAfterUnavailable", eventstore.Exact(3), unavailable, true, nil},
		{"NoStreamAfterUnavailable", eventstore.NoStream, unavailable, true, nil},
		{"AnyAfterUnavailable", eventstore.Any, unavailable, false, eventstore.ErrUnavailable},
		{"StreamExistsAfterUnavailable", eventstore.StreamExists, unavailable, false, eventstore.ErrUnavailable},
		{"ExactAfterAborted", eventstore.Exact(3), failWith(codes.Aborted, "Operation timed out"), true, nil},
		{"AnyAfterAborted", eventstore.Any, failWith(codes.Aborted, "Operation timed out"), false, eventstore.ErrUnavailable},
		{"ExactAfterDeadline", eventstore.Exact(3), failWith(codes.DeadlineExceeded, "slow"), true, nil},
		{"ExactAfterInternal", eventstore.Exact(3), failWith(codes.Internal, "boom"), false, nil},
		// Retries follow the client's typed errors, never the text of a
		// message: these look like the client's "not sent" messages.
		{"AnyWhoseMessageSaysNotSent", eventstore.Any, failWith(codes.Unavailable, "could not construct append operation"), false, eventstore.ErrUnavailable},
		{"AnyWhoseMessageSaysNoNode", eventstore.Any, failWith(codes.Unavailable, "maximum discovery attempt count reached"), false, eventstore.ErrUnavailable},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fake{onAppend: func(n int, _ *streams.AppendReq_Options, _ int) (*streams.AppendResp, error) {
				if n == 0 {
					return nil, c.fail
				}
				return appended(4, 40), nil
			}}
			s := startFake(t, f)
			res, err := s.Append(testContext(t), "order-1", c.expected, newEvent("A"))
			calls := len(f.appendCalls())
			if c.retried {
				if err != nil || calls != 2 || res.Next != eventstore.Exact(4) || res.Position != (eventstore.Position{Commit: 40, Prepare: 40}) {
					t.Fatalf("got %+v, %v after %d calls; want the retry's result after 2", res, err, calls)
				}
				return
			}
			if err == nil || calls != 1 {
				t.Fatalf("got %+v, %v after %d calls; want one failed call", res, err, calls)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v does not match %v", err, c.want)
			}
		})
	}
}

func TestAppendRetriesRunOut(t *testing.T) {
	f := &fake{onAppend: func(int, *streams.AppendReq_Options, int) (*streams.AppendResp, error) {
		return nil, failWith(codes.Aborted, "Operation timed out")
	}}
	s := startFake(t, f, cesdb.WithRetries(2))
	_, err := s.Append(testContext(t), "order-1", eventstore.Exact(1), newEvent("A"))
	if !errors.Is(err, eventstore.ErrUnavailable) || len(f.appendCalls()) != 3 {
		t.Fatalf("got %v after %d calls; want ErrUnavailable after 3", err, len(f.appendCalls()))
	}
}

func TestNotLeader(t *testing.T) {
	f := &fake{}
	f.onAppend = func(n int, _ *streams.AppendReq_Options, _ int) (*streams.AppendResp, error) {
		if n%2 == 0 { // redirect to the leader: this very node
			host, port, _ := strings.Cut(f.addr, ":")
			return nil, failWith(codes.NotFound, "Leader info available", "exception", "not-leader", "leader-endpoint-host", host, "leader-endpoint-port", port)
		}
		return appended(1, 10), nil
	}
	s := startFake(t, f)
	ctx := testContext(t)
	if _, err := s.Append(ctx, "order-1", eventstore.Exact(0), newEvent("A")); err != nil {
		t.Fatalf("Exact append after a not-leader answer: %v (want it retried on the leader)", err)
	}
	_, err := s.Append(ctx, "order-1", eventstore.Any, newEvent("A"))
	if !errors.Is(err, eventstore.ErrNotLeader) {
		t.Fatalf("Any append after a not-leader answer: %v, want ErrNotLeader", err)
	}
}

func TestServerErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"AccessDenied", failWith(codes.PermissionDenied, "Access denied.", "exception", "access-denied"), eventstore.ErrAccessDenied},
		{"Unauthenticated", failWith(codes.Unauthenticated, "Bad credentials"), eventstore.ErrAccessDenied},
		{"InvalidArgument", failWith(codes.InvalidArgument, "too big", "exception", "maximum-append-size-exceeded"), eventstore.ErrInvalidArgument},
		{"StreamDeleted", failWith(codes.FailedPrecondition, "deleted", "exception", "stream-deleted", "stream-name", "order-1"), eventstore.ErrStreamDeleted},
		{"Unimplemented", failWith(codes.Unimplemented, "no"), errors.ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fake{
				onAppend: func(int, *streams.AppendReq_Options, int) (*streams.AppendResp, error) { return nil, c.err },
				onRead:   func(int, *streams.ReadReq, streams.Streams_ReadServer) error { return c.err },
			}
			s := startFake(t, f)
			ctx := testContext(t)
			_, err := s.Append(ctx, "order-1", eventstore.Exact(0), newEvent("A"))
			if !errors.Is(err, c.want) {
				t.Fatalf("Append: %v, want %v", err, c.want)
			}
			if _, err := collect(t, s.ReadStream(ctx, "order-1", eventstore.ReadOptions{})); !errors.Is(err, c.want) {
				t.Fatalf("ReadStream: %v, want %v", err, c.want)
			}
		})
	}
}

func TestDeleteWrongVersion(t *testing.T) {
	// The real server reports the actual version of a failed delete only in
	// trailers the client hides; the store asks with an empty append.
	realFormat := failWith(codes.FailedPrecondition, "Append failed due to WrongExpectedVersion. Stream: order-1, Expected version: 5",
		"exception", "wrong-expected-version", "stream-name", "order-1", "expected-version", "5", "actual-version", "9")
	for _, c := range []struct {
		name   string
		probe  *streams.AppendResp
		actual eventstore.ExpectedRevision
	}{
		{"Revision", wrongVersion(ptr[uint64](9)), eventstore.Exact(9)},
		{"NoStream", wrongVersion(nil), eventstore.NoStream},
		{"RevisionZero", checked(ptr[uint64](0)), eventstore.Exact(0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fake{
				onDelete:    func(int, *streams.DeleteReq) (*streams.DeleteResp, error) { return nil, realFormat },
				onTombstone: func(int, *streams.TombstoneReq) (*streams.TombstoneResp, error) { return nil, realFormat },
				onAppend: func(_ int, opts *streams.AppendReq_Options, events int) (*streams.AppendResp, error) {
					if events != 0 || opts.GetRevision() != 0 {
						t.Errorf("probe: append of %d events expecting %v, want an empty one expecting 0", events, opts.GetExpectedStreamRevision())
					}
					return c.probe, nil
				},
			}
			s := startFake(t, f)
			ctx := testContext(t)
			for name, fn := range map[string]func() (eventstore.DeleteResult, error){
				"Delete":    func() (eventstore.DeleteResult, error) { return s.Delete(ctx, "order-1", eventstore.Exact(5)) },
				"Tombstone": func() (eventstore.DeleteResult, error) { return s.Tombstone(ctx, "order-1", eventstore.Exact(5)) },
			} {
				_, err := fn()
				var wrong *eventstore.WrongExpectedVersionError
				if !errors.As(err, &wrong) || wrong.Stream != "order-1" || wrong.Expected != eventstore.Exact(5) || wrong.Actual != c.actual {
					t.Fatalf("%s: %v, want wrong expected version 5, actual %v", name, err, c.actual)
				}
			}
		})
	}
	t.Run("ProbeFails", func(t *testing.T) {
		f := &fake{
			onDelete: func(int, *streams.DeleteReq) (*streams.DeleteResp, error) { return nil, realFormat },
			onAppend: func(int, *streams.AppendReq_Options, int) (*streams.AppendResp, error) {
				return nil, failWith(codes.PermissionDenied, "Access denied.")
			},
		}
		s := startFake(t, f)
		_, err := s.Delete(testContext(t), "order-1", eventstore.Exact(5))
		var wrong *eventstore.WrongExpectedVersionError
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) || errors.As(err, &wrong) || !strings.Contains(err.Error(), "actual revision unknown") {
			t.Fatalf("got %v, want ErrWrongExpectedVersion with the actual revision unknown", err)
		}
	})
}

func TestEmptyAppendResult(t *testing.T) {
	// The v4 client reports an empty append to a missing stream as revision
	// 0 (or 1); the store tells them apart with a second check.
	for _, c := range []struct {
		name        string
		first, then *streams.AppendResp
		want        eventstore.ExpectedRevision
	}{
		{"NoStream", checked(nil), wrongVersion(nil), eventstore.NoStream},
		{"RevisionZero", checked(ptr[uint64](0)), checked(ptr[uint64](0)), eventstore.Exact(0)},
		{"RevisionOne", checked(ptr[uint64](1)), wrongVersion(ptr[uint64](1)), eventstore.Exact(1)},
		{"RevisionSeven", checked(ptr[uint64](7)), nil, eventstore.Exact(7)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fake{onAppend: func(n int, _ *streams.AppendReq_Options, _ int) (*streams.AppendResp, error) {
				if n == 0 {
					return c.first, nil
				}
				return c.then, nil
			}}
			s := startFake(t, f)
			res, err := s.Append(testContext(t), "order-1", eventstore.Any)
			if err != nil || res.Next != c.want || !res.Position.IsZero() {
				t.Fatalf("got %+v, %v; want Next %v and no position", res, err, c.want)
			}
		})
	}
}

func TestReadRestarts(t *testing.T) {
	drop := failWith(codes.Unavailable, "connection reset")
	t.Run("StreamForwards", func(t *testing.T) {
		f := &fake{onRead: func(n int, req *streams.ReadReq, srv streams.Streams_ReadServer) error {
			if n == 0 {
				return errors.Join(send(srv, event("order-1", 0, 10), event("order-1", 1, 11), event("order-1", 2, 12)), drop)
			}
			if got := req.GetOptions().GetStream().GetRevision(); got != 3 || req.GetOptions().GetCount() != 7 {
				t.Errorf("restart from revision %d count %d, want 3 and 7", got, req.GetOptions().GetCount())
			}
			return send(srv, event("order-1", 3, 13), event("order-1", 4, 14))
		}}
		s := startFake(t, f)
		got, err := collect(t, s.ReadStream(testContext(t), "order-1", eventstore.ReadOptions{MaxCount: 10}))
		if err != nil || revs(got) != "0 1 2 3 4" {
			t.Fatalf("read %s, %v; want 0 1 2 3 4", revs(got), err)
		}
	})
	t.Run("StreamBackwards", func(t *testing.T) {
		f := &fake{onRead: func(n int, req *streams.ReadReq, srv streams.Streams_ReadServer) error {
			switch n {
			case 0:
				return errors.Join(send(srv, event("order-1", 5, 15), event("order-1", 4, 14)), drop)
			case 1:
				if got := req.GetOptions().GetStream().GetRevision(); got != 3 {
					t.Errorf("restart from revision %d, want 3", got)
				}
				return errors.Join(send(srv, event("order-1", 3, 13), event("order-1", 2, 12), event("order-1", 1, 11), event("order-1", 0, 10)), drop)
			}
			t.Errorf("read again after revision 0")
			return nil
		}}
		s := startFake(t, f)
		got, err := collect(t, s.ReadStream(testContext(t), "order-1", eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End}))
		if err != nil || revs(got) != "5 4 3 2 1 0" {
			t.Fatalf("read %s, %v; want 5 4 3 2 1 0", revs(got), err)
		}
	})
	t.Run("AllFiltered", func(t *testing.T) {
		f := &fake{onRead: func(n int, req *streams.ReadReq, srv streams.Streams_ReadServer) error {
			if n == 0 {
				return errors.Join(send(srv, event("a-1", 0, 1), event("b-1", 0, 2), event("a-1", 1, 3)), drop)
			}
			if p := req.GetOptions().GetAll().GetPosition(); p.GetCommitPosition() != 3 {
				t.Errorf("restart from %v, want position 3", p)
			}
			// A forwards $all read includes its start.
			return send(srv, event("a-1", 1, 3), event("b-1", 1, 4), event("a-1", 2, 5), event("a-1", 3, 6))
		}}
		s := startFake(t, f)
		got, err := collect(t, s.ReadAll(testContext(t), eventstore.ReadAllOptions{Filter: eventstore.StreamPrefixFilter("a-"), MaxCount: 3}))
		if err != nil || positions(got) != "1 3 5" {
			t.Fatalf("read %s, %v; want positions 1 3 5", positions(got), err)
		}
	})
	t.Run("GivesUp", func(t *testing.T) {
		f := &fake{onRead: func(int, *streams.ReadReq, streams.Streams_ReadServer) error {
			return failWith(codes.Aborted, "timed out")
		}}
		s := startFake(t, f, cesdb.WithRetries(1))
		_, err := collect(t, s.ReadStream(testContext(t), "order-1", eventstore.ReadOptions{}))
		if !errors.Is(err, eventstore.ErrUnavailable) || len(f.readCalls()) != 2 {
			t.Fatalf("got %v after %d reads, want ErrUnavailable after 2", err, len(f.readCalls()))
		}
	})
}

func revs(evs []eventstore.RecordedEvent) string {
	var b []string
	for _, e := range evs {
		b = append(b, strconv.FormatUint(e.Revision, 10))
	}
	return strings.Join(b, " ")
}

func positions(evs []eventstore.RecordedEvent) string {
	var b []string
	for _, e := range evs {
		b = append(b, strconv.FormatUint(e.Position.Commit, 10))
	}
	return strings.Join(b, " ")
}

func TestSubscriptionResumes(t *testing.T) {
	drop := failWith(codes.Unavailable, "server shutting down")
	f := &fake{onRead: func(n int, req *streams.ReadReq, srv streams.Streams_ReadServer) error {
		switch n {
		case 0:
			return errors.Join(send(srv, confirmation(), event("order-1", 0, 10), event("order-1", 1, 11), caughtUp(), event("order-1", 2, 12)), drop)
		case 1:
			if req.GetOptions().GetStream().GetRevision() != 2 {
				t.Errorf("resubscribed from %v, want revision 2", req.GetOptions().GetStream())
			}
			// The server may repeat what the store already delivered.
			return errors.Join(send(srv, confirmation(), event("order-1", 2, 12), event("order-1", 3, 13), caughtUp(), event("order-1", 4, 14)), drop)
		case 2:
			if req.GetOptions().GetStream().GetRevision() != 4 {
				t.Errorf("resubscribed from %v, want revision 4", req.GetOptions().GetStream())
			}
			send(srv, confirmation(), caughtUp(), event("order-1", 5, 15))
			<-srv.Context().Done()
			return nil
		}
		t.Errorf("subscription %d: one resubscription per drop expected", n)
		return nil
	}}
	s := startFake(t, f)
	var got []string
	for m, err := range s.SubscribeToStream(testContext(t), "order-1", eventstore.SubscribeOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind == eventstore.MessageEvent {
			got = append(got, strconv.FormatUint(m.Event.Revision, 10))
		} else {
			got = append(got, m.Kind.String())
		}
		if len(got) == 7 {
			break
		}
	}
	if want := "0 1 caught-up 2 3 4 5"; strings.Join(got, " ") != want {
		t.Fatalf("got %s, want %s", strings.Join(got, " "), want)
	}
	if n := len(f.readCalls()); n != 3 {
		t.Fatalf("%d subscriptions for 2 drops, want 3", n)
	}
}

func TestSubscriptionToAllResumesAfterCheckpoint(t *testing.T) {
	drop := failWith(codes.Unavailable, "server shutting down")
	f := &fake{onRead: func(n int, req *streams.ReadReq, srv streams.Streams_ReadServer) error {
		if n == 0 {
			if w := req.GetOptions().GetFilter().GetMax(); w != 4 {
				t.Errorf("search window %d, want the checkpoint interval 4", w)
			}
			return errors.Join(send(srv, confirmation(), checkpoint(4), event("a-1", 0, 6), checkpoint(8), fellBehind(), checkpoint(12)), drop)
		}
		if p := req.GetOptions().GetAll().GetPosition(); p.GetCommitPosition() != 12 {
			t.Errorf("resubscribed from %v, want position 12", p)
		}
		send(srv, confirmation(), checkpoint(8), checkpoint(12), event("a-1", 1, 13), checkpoint(16), caughtUp())
		<-srv.Context().Done()
		return nil
	}}
	s := startFake(t, f)
	filter := eventstore.StreamPrefixFilter("a-")
	filter.CheckpointInterval = 4
	var got []string
	for m, err := range s.SubscribeToAll(testContext(t), eventstore.SubscribeAllOptions{Filter: filter}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Kind.String()+"@"+strconv.FormatUint(max(m.Position.Commit, m.Event.Position.Commit), 10))
		if m.Kind == eventstore.MessageCaughtUp {
			break
		}
	}
	want := "checkpoint@4 event@6 checkpoint@8 fell-behind@8 checkpoint@12 event@13 checkpoint@16 caught-up@16"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestSubscriptionFromEnd(t *testing.T) {
	f := &fake{onRead: func(n int, req *streams.ReadReq, srv streams.Streams_ReadServer) error {
		switch n {
		case 0: // where the end is
			if req.GetOptions().GetReadDirection() != streams.ReadReq_Options_Backwards || req.GetOptions().GetCount() != 1 {
				t.Errorf("first read %v, want one event backwards", req.GetOptions())
			}
			return send(srv, event("order-1", 7, 70))
		case 1:
			if req.GetOptions().GetStream().GetRevision() != 7 {
				t.Errorf("subscribed from %v, want revision 7", req.GetOptions().GetStream())
			}
			send(srv, confirmation(), caughtUp())
			<-srv.Context().Done()
		}
		return nil
	}}
	s := startFake(t, f)
	for m, err := range s.SubscribeToStream(testContext(t), "order-1", eventstore.SubscribeOptions{From: eventstore.End}) {
		if err != nil || m.Kind != eventstore.MessageCaughtUp || m.Position.Commit != 70 {
			t.Fatalf("got %v at %v, %v; want caught up at the last event, position 70", m.Kind, m.Position, err)
		}
		break
	}
}

func TestSubscriptionEnds(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"Tombstoned", failWith(codes.FailedPrecondition, "Event stream 'order-1' is deleted.", "exception", "stream-deleted", "stream-name", "order-1"), eventstore.ErrStreamDeleted},
		{"AccessDenied", failWith(codes.PermissionDenied, "Access denied."), eventstore.ErrAccessDenied},
		{"Internal", failWith(codes.Internal, "boom"), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fake{onRead: func(n int, _ *streams.ReadReq, srv streams.Streams_ReadServer) error {
				return errors.Join(send(srv, confirmation()), c.err)
			}}
			s := startFake(t, f)
			_, err := collect(t, s.SubscribeToStream(testContext(t), "order-1", eventstore.SubscribeOptions{}))
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || len(f.readCalls()) != 1 {
				t.Fatalf("got %v after %d subscriptions, want %v after 1", err, len(f.readCalls()), c.want)
			}
		})
	}
	t.Run("NoConfirmation", func(t *testing.T) {
		f := &fake{onRead: func(n int, _ *streams.ReadReq, srv streams.Streams_ReadServer) error {
			return send(srv, caughtUp())
		}}
		s := startFake(t, f)
		if _, err := collect(t, s.SubscribeToAll(testContext(t), eventstore.SubscribeAllOptions{})); err == nil {
			t.Fatal("a subscription the server did not confirm ended without error")
		}
	})
	t.Run("Context", func(t *testing.T) {
		f := &fake{onRead: func(n int, _ *streams.ReadReq, srv streams.Streams_ReadServer) error {
			send(srv, confirmation(), caughtUp())
			<-srv.Context().Done()
			return nil
		}}
		s := startFake(t, f)
		ctx, cancel := context.WithCancel(testContext(t))
		defer cancel()
		var err error
		for m, e := range s.SubscribeToStream(ctx, "order-1", eventstore.SubscribeOptions{}) {
			if e != nil {
				err = e
				continue
			}
			if m.Kind == eventstore.MessageCaughtUp {
				cancel()
			}
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
}

func TestContextEndsOperations(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	f := &fake{
		onAppend: func(int, *streams.AppendReq_Options, int) (*streams.AppendResp, error) {
			<-hang
			return nil, failWith(codes.Unavailable, "gone")
		},
		onRead: func(int, *streams.ReadReq, streams.Streams_ReadServer) error {
			// Not even the call's deadline ends it: a normal end racing the
			// client's deadline would be a complete (empty) read.
			<-hang
			return nil
		},
		onDelete: func(int, *streams.DeleteReq) (*streams.DeleteResp, error) {
			<-hang
			return nil, failWith(codes.Unavailable, "gone")
		},
	}
	s := startFake(t, f)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(testContext(t), 50*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	checks := map[string]error{}
	_, checks["Append"] = s.Append(short(), "order-1", eventstore.Exact(1), newEvent("A"))
	_, checks["Delete"] = s.Delete(short(), "order-1", eventstore.Any)
	_, checks["ReadStream"] = collect(t, s.ReadStream(short(), "order-1", eventstore.ReadOptions{}))
	_, checks["SubscribeToAll"] = collect(t, s.SubscribeToAll(short(), eventstore.SubscribeAllOptions{}))
	for op, err := range checks {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s with an expiring context: %v, want context.DeadlineExceeded", op, err)
		}
	}
}
