package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
)

// The tests open stores by URL as users do. "clitest:<name>" is an
// in-memory store shared by every command of a test that names it, so a
// test can seed it, run commands against it and inspect it; closing it is a
// no-op.
var (
	sharedMu sync.Mutex
	shared   = map[string]*memory.Store{}
)

// unclosable embeds the memory store itself, so that its optional
// capabilities (eventstore.PersistentSubscriptions) show through.
type unclosable struct{ *memory.Store }

func (unclosable) Close() error { return nil }

func init() {
	eventstore.Register("clitest", eventstore.DriverFunc(func(_ context.Context, url string) (eventstore.Store, error) {
		return unclosable{sharedStore(url)}, nil
	}))
}

func sharedStore(url string) *memory.Store {
	sharedMu.Lock()
	defer sharedMu.Unlock()
	s, ok := shared[url]
	if !ok {
		s = memory.New()
		shared[url] = s
	}
	return s
}

// newStore returns the URL of a new, empty shared store and the store.
func newStore(t *testing.T, name string) (string, *memory.Store) {
	t.Helper()
	url := "clitest:" + t.Name() + "/" + name
	s := sharedStore(url)
	t.Cleanup(func() {
		sharedMu.Lock()
		delete(shared, url)
		sharedMu.Unlock()
		s.Close()
	})
	return url, s
}

// run executes the chronicle command line args with stdin and returns its
// standard output and error output.
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// mustRun is run for commands that must succeed.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := run(t, stdin, args...)
	if err != nil {
		t.Fatalf("chronicle %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// wantError runs a command that must fail with an error containing want.
func wantError(t *testing.T, want string, args ...string) {
	t.Helper()
	_, _, err := run(t, "", args...)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("chronicle %s: error %v, want one containing %q", strings.Join(args, " "), err, want)
	}
}

func event(typ, data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(data)}
}

func appendEvents(t *testing.T, s eventstore.Store, stream string, events ...eventstore.EventData) {
	t.Helper()
	if _, err := s.Append(context.Background(), stream, eventstore.Any, events...); err != nil {
		t.Fatalf("seed %s: %v", stream, err)
	}
}

// allEvents returns every event of $all.
func allEvents(t *testing.T, s eventstore.Store) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for e, err := range s.ReadAll(context.Background(), eventstore.ReadAllOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// parseLines decodes JSON Lines output.
func parseLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var got []map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		got = append(got, m)
	}
	return got
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
