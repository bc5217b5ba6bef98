package sqlite_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

var crashCycles = flag.Int("crash.cycles", 20, "kill/reopen cycles of TestCrashSafety")

const (
	crashEnv     = "CHRONICLE_SQLITE_CRASH_CHILD" // the store file, in the child
	crashWriters = 4
)

// crashEvent is the data of every event the child writes: which append it
// belongs to and where in it, so that a partial append would show.
type crashEvent struct {
	Append string `json:"append"` // ID of the append
	N      int    `json:"n"`      // events in it
	I      int    `json:"i"`      // this event's index
}

// TestCrashChild is the child of TestCrashSafety: it appends from several
// goroutines until it is killed, printing each append only after it
// returned: "<stream> <first revision> <position of the last event> <id>…".
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("run by TestCrashSafety")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range crashWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("crash-%d", g)
			next := eventstore.NoStream
			for e, err := range s.ReadStream(ctx, stream, eventstore.ReadOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
				if err == nil {
					next = eventstore.Exact(e.Revision)
				}
			}
			for k := 0; ; k++ {
				n := 1 + (k+g)%3
				id := uuid.NewString()
				evs := make([]eventstore.EventData, n)
				ids := make([]string, n)
				for i := range evs {
					data, _ := json.Marshal(crashEvent{Append: id, N: n, I: i})
					evs[i] = eventstore.EventData{ID: uuid.New(), Type: "Crash", Data: data}
					ids[i] = evs[i].ID.String()
				}
				expected := next
				if k%4 == 3 {
					expected = eventstore.Any
				}
				res, err := s.Append(ctx, stream, expected, evs...)
				if err != nil {
					fmt.Println("error", err)
					os.Exit(1)
				}
				last, _ := res.Next.Revision()
				line := fmt.Sprintf("%s %d %d %s\n", stream, last+1-uint64(n), res.Position.Commit, strings.Join(ids, " "))
				mu.Lock()
				os.Stdout.WriteString(line) // one write: a line is all or nothing
				mu.Unlock()
				next = res.Next
			}
		}()
	}
	wg.Wait()
}

// reported is an append the child saw succeed.
type reported struct {
	stream string
	first  uint64
	pos    uint64
	ids    []string
}

// TestCrashSafety kills a writing child process at random moments and
// checks after each kill that every append it reported is there, that no
// append is partly there, and that $all and the streams have no gaps.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	var all []reported
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for cycle := range *crashCycles {
		got := runCrashChild(t, path, time.Duration(rng.IntN(150))*time.Millisecond)
		all = append(all, got...)
		n := checkCrashStore(t, path, all)
		t.Logf("cycle %d: %d appends reported, %d events in the store", cycle, len(got), n)
		if t.Failed() {
			return
		}
	}
}

// runCrashChild starts the child, lets it append, kills it with SIGKILL
// after the given delay counted from its first reported append, and
// returns what it reported.
func runCrashChild(t *testing.T, path string, delay time.Duration) []reported {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []reported
	first := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) > 0 && f[0] == "error" {
				t.Errorf("child: %s", sc.Text())
				continue
			}
			if len(f) < 4 || !strings.HasPrefix(f[0], "crash-") {
				continue // the test framework's own output
			}
			firstRev, err1 := strconv.ParseUint(f[1], 10, 64)
			pos, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				t.Errorf("child: bad line %q", sc.Text())
				continue
			}
			got = append(got, reported{stream: f[0], first: firstRev, pos: pos, ids: f[3:]})
			if len(got) == 1 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
		select { // the random moment of the kill
		case <-time.After(delay):
		case <-done:
		}
	case <-done:
	case <-time.After(30 * time.Second):
		t.Error("child reported nothing in 30s")
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	_ = cmd.Wait()
	return got
}

// checkCrashStore reopens the store and checks it against the reports; it
// returns the number of events.
func checkCrashStore(t *testing.T, path string, all []reported) int {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer s.Close()
	type at struct {
		stream string
		rev    uint64
	}
	events := map[at]eventstore.RecordedEvent{}
	lastRev := map[string]uint64{}
	var pos uint64
	n := 0
	for e, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatalf("read $all: %v", err)
		}
		n++
		pos++
		if e.Position.Commit != pos || e.Position.Prepare != pos {
			t.Fatalf("$all: position %v where %d was expected: gap or disorder", e.Position, pos)
		}
		want := uint64(0)
		if r, ok := lastRev[e.Stream]; ok {
			want = r + 1
		}
		if e.Revision != want {
			t.Fatalf("%s: revision %d after %d: not dense", e.Stream, e.Revision, want)
		}
		lastRev[e.Stream] = e.Revision
		events[at{e.Stream, e.Revision}] = e
	}
	// No partial append: each event's append is wholly there.
	for k, e := range events {
		var ce crashEvent
		if err := json.Unmarshal(e.Data, &ce); err != nil {
			t.Fatalf("%s@%d: data %q: %v", k.stream, k.rev, e.Data, err)
		}
		for i := range ce.N {
			o, ok := events[at{k.stream, k.rev - uint64(ce.I) + uint64(i)}]
			var oe crashEvent
			if ok {
				_ = json.Unmarshal(o.Data, &oe)
			}
			if !ok || oe.Append != ce.Append || oe.I != i {
				t.Fatalf("%s@%d: append %s is partial: event %d of %d missing", k.stream, k.rev, ce.Append, i, ce.N)
			}
		}
	}
	// Every reported append is there, whole, where it was reported.
	for _, r := range all {
		for i, id := range r.ids {
			e, ok := events[at{r.stream, r.first + uint64(i)}]
			if !ok || e.ID.String() != id {
				t.Fatalf("reported append to %s at %d is lost (event %d, %s)", r.stream, r.first, i, id)
			}
			if i == len(r.ids)-1 && e.Position.Commit != r.pos {
				t.Fatalf("reported append to %s at %d: position %v, reported %d", r.stream, r.first, e.Position, r.pos)
			}
		}
	}
	return n
}
