package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/chronicle-go/chronicle/eventstore"
)

// The model of one stream for porcupine: its state is the list of its
// event IDs; an append with an expected revision either adds its event and
// returns the new revision or fails with the actual one; a read returns the
// list.

type linKind int

const (
	linAppend linKind = iota
	linRead
)

type linInput struct {
	kind     linKind
	expected eventstore.ExpectedRevision
	id       string
}

type linOutput struct {
	ok   bool   // the append succeeded
	rev  int64  // append: the new revision, or the actual one (-1: no stream)
	read string // read: the IDs, each preceded by a comma
}

type linState struct {
	ids string // each ID preceded by a comma
	n   int64
}

var streamModel = porcupine.Model{
	Init: func() any { return linState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(linState), input.(linInput), output.(linOutput)
		if in.kind == linRead {
			return out.read == st.ids, st
		}
		last := st.n - 1
		var match bool
		switch {
		case in.expected.IsAny():
			match = true
		case in.expected.IsNoStream():
			match = st.n == 0
		default:
			r, _ := in.expected.Revision()
			match = int64(r) == last
		}
		if !match {
			return !out.ok && out.rev == last, st
		}
		if !out.ok || out.rev != st.n {
			return false, st
		}
		return true, linState{ids: st.ids + "," + in.id, n: st.n + 1}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		if in.kind == linRead {
			return fmt.Sprintf("read() → %d events", strings.Count(out.read, ","))
		}
		if out.ok {
			return fmt.Sprintf("append(%v, %.8s) → %d", in.expected, in.id, out.rev)
		}
		return fmt.Sprintf("append(%v, %.8s) → wrong version, actual %d", in.expected, in.id, out.rev)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%d events", state.(linState).n) },
}

// linearizable records a history of concurrent appends (Any and Exact) and
// reads of one stream and checks it with porcupine against the model of a
// single stream.
func (s *suite) linearizable(e *env) {
	const clients, opsPerClient = 6, 14
	const stream = "order-1"
	t0 := time.Now()
	clock := func() int64 { return int64(time.Since(t0)) }
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ops  []porcupine.Operation
		errs []error
	)
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), uint64(t0.UnixNano())))
			known := int64(-1) // the last revision this client has seen
			for range opsPerClient {
				var in linInput
				var out linOutput
				var err error
				call := clock()
				switch p := rng.IntN(10); {
				case p < 3:
					in = linInput{kind: linRead}
					var evs []eventstore.RecordedEvent
					evs, err = collectQuiet(e.s.ReadStream(e.ctx, stream, eventstore.ReadOptions{}))
					if errors.Is(err, eventstore.ErrStreamNotFound) {
						err = nil
					}
					var b strings.Builder
					for _, ev := range evs {
						b.WriteString("," + ev.ID.String())
					}
					out.read = b.String()
					if len(evs) > 0 {
						known = int64(evs[len(evs)-1].Revision)
					}
				default:
					ev := newEvent("Linearized")
					in = linInput{kind: linAppend, expected: eventstore.Any, id: ev.ID.String()}
					if p >= 6 { // an optimistic append from what the client knows
						in.expected = eventstore.NoStream
						if known >= 0 {
							in.expected = eventstore.Exact(uint64(known))
						}
					}
					var res eventstore.AppendResult
					res, err = e.s.Append(e.ctx, stream, in.expected, ev)
					var wev *eventstore.WrongExpectedVersionError
					switch {
					case err == nil:
						rev, _ := res.Next.Revision()
						out = linOutput{ok: true, rev: int64(rev)}
					case errors.As(err, &wev):
						err = nil
						out.rev = -1
						if rev, ok := wev.Actual.Revision(); ok {
							out.rev = int64(rev)
						}
					}
					known = out.rev
				}
				ret := clock()
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("client %d: %w", c, err))
				}
				ops = append(ops, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		e.t.Fatal(err)
	}
	res, info := porcupine.CheckOperationsVerbose(streamModel, ops, e.f.timeout()/2)
	switch res {
	case porcupine.Ok:
		return
	case porcupine.Unknown:
		e.t.Fatalf("porcupine could not decide within %v whether %d operations are linearizable", e.f.timeout()/2, len(ops))
	}
	msg := fmt.Sprintf("the history of %d appends and reads of one stream is not linearizable", len(ops))
	if f, err := os.CreateTemp("", "storetest-linearizability-*.html"); err == nil {
		if porcupine.Visualize(streamModel, info, f) == nil {
			msg += "; visualization: " + f.Name()
		}
		f.Close()
	}
	e.t.Fatal(msg)
}

// collectQuiet is collect for use outside the test's goroutine: it reports
// the error instead of failing the test.
func collectQuiet[T any](seq func(yield func(T, error) bool)) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}
