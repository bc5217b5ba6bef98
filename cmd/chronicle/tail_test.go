package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore"
)

// startTail runs `chronicle tail args...` until the returned stop function
// cancels it (as SIGINT does) and returns its error.
func startTail(t *testing.T, args ...string) (out, errOut *lines, stop func() error) {
	t.Helper()
	root := newRootCmd()
	out = &lines{ch: make(chan string, 64)}
	errOut = &lines{ch: make(chan string, 64)}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(append([]string{"tail"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	stopped := false
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return out, errOut, stop
}

// next returns the next line, failing after a generous deadline.
func next(t *testing.T, l *lines) string {
	t.Helper()
	select {
	case line := <-l.ch:
		return line
	case <-time.After(30 * time.Second):
		t.Fatal("no output line")
		return ""
	}
}

func TestTailAll(t *testing.T) {
	url, s := seedOrders(t)
	out, _, stop := startTail(t, "--store", url, "--type-prefix", "Live")
	if got := next(t, out); got != "-- caught up --" {
		t.Fatalf("first line %q, want the caught-up note (tail starts at the end)", got)
	}
	appendEvents(t, s, "order-5", event("Ignored", `{}`), event("LiveOne", `{"n":1}`))
	if got := next(t, out); !strings.HasPrefix(got, "STREAM") {
		t.Fatalf("header %q", got)
	}
	if got := next(t, out); !strings.HasPrefix(got, "order-5") || !strings.Contains(got, "LiveOne") || !strings.Contains(got, `{"n":1}`) {
		t.Fatalf("live event %q", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("tail ended with %v after Ctrl+C", err)
	}
}

func TestTailStreamJSON(t *testing.T) {
	url, s := seedOrders(t)
	out, errOut, stop := startTail(t, "order-1", "--from-start", "--json", "--store", url)
	for _, want := range []string{"OrderPlaced", "ItemAdded", "Blob"} {
		var e map[string]any
		if err := json.Unmarshal([]byte(next(t, out)), &e); err != nil || e["type"] != want {
			t.Fatalf("event %v (%v), want %s", e, err, want)
		}
	}
	if got := next(t, errOut); got != "caught up" {
		t.Fatalf("stderr %q", got)
	}
	appendEvents(t, s, "order-1", event("Later", `{}`))
	if got := next(t, out); !strings.Contains(got, `"revision":3`) || !strings.Contains(got, `"type":"Later"`) {
		t.Fatalf("live event %q", got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// tail resumes after the position (or revision) a previous tail printed.
func TestTailResumes(t *testing.T) {
	url, _ := seedOrders(t)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--from-position", "C:2/P:2"}, []string{"Blob", "CartOpened"}},
		{[]string{"--from-position", "2"}, []string{"Blob", "CartOpened"}},
		{[]string{"order-1", "--from", "0"}, []string{"ItemAdded", "Blob"}},
	} {
		out, errOut, stop := startTail(t, append(tt.args, "--json", "--store", url)...)
		for _, want := range tt.want {
			var e map[string]any
			if err := json.Unmarshal([]byte(next(t, out)), &e); err != nil || e["type"] != want {
				t.Fatalf("tail %v: event %v (%v), want %s", tt.args, e, err, want)
			}
		}
		if got := next(t, errOut); got != "caught up" {
			t.Fatalf("tail %v: stderr %q", tt.args, got)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTailErrors(t *testing.T) {
	url, s := seedOrders(t)
	if _, err := s.Tombstone(t.Context(), "order-1", eventstore.Any); err != nil {
		t.Fatal(err)
	}
	wantError(t, `tail "order-1": eventstore: stream "order-1" is deleted`, "tail", "order-1", "--store", url)
	wantError(t, "--regex applies to $all only", "tail", "order-1", "--regex", "x", "--store", url)
	wantError(t, "filter is not valid", "tail", "--regex", "(", "--store", url)
	wantError(t, "accepts at most 1 arg", "tail", "a", "b", "--store", url)
	wantError(t, "unknown driver", "tail", "--store", "nosuch:")
	wantError(t, "not both", "tail", "--from-start", "--from-position", "1", "--store", url)
	wantError(t, "--from is a stream revision", "tail", "--from", "1", "--store", url)
	wantError(t, "--from-position applies to $all only", "tail", "order-1", "--from-position", "1", "--store", url)
}
