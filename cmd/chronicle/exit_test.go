package main

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestExitCodes(t *testing.T) {
	url, s := seedOrders(t)
	appendEvents(t, s, "customer-1", event("CustomerRegistered", `{}`))
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"read", "order-1", "--store", url}, exitOK},
		{[]string{"read", "--store", url}, exitUsage},                                 // missing STREAM
		{[]string{"read", "a", "b", "--store", url}, exitUsage},                       // too many
		{[]string{"read", "order-1", "--bogus", "--store", url}, exitUsage},           // unknown flag
		{[]string{"bogus"}, exitUsage},                                                // unknown command
		{[]string{"read", "order-1", "--regex", "x", "--store", url}, exitUsage},      // $all-only flag
		{[]string{"read", "$all", "--from-position", "x", "--store", url}, exitUsage}, // bad position
		{[]string{"replay", "order-1", "--store", url}, exitUsage},                    // no --to
		{[]string{"export", "order-1", "--all", "--store", url}, exitUsage},           // both
		{[]string{"serve", "--user", "nopassword", "--store", "memory:"}, exitUsage},  // bad --user
		{[]string{"read", "nope", "--store", url}, exitNotFound},                      // missing stream
		{[]string{"export", "nope", "--store", url}, exitNotFound},                    // missing stream
		{[]string{"import", filepath.Join(t.TempDir(), "none.jsonl"), "--store", url}, exitNotFound},
		{[]string{"read", "order-1", "--store", "nosuch:"}, exitFailure}, // unknown driver
		{[]string{"validate", "customer-1", "--store", url, "--schema-stream", "none"}, exitOK},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := run(t, "", tt.args...)
			if got := exitCode(err); got != tt.want {
				t.Errorf("exit code %d (error %v), want %d", got, err, tt.want)
			}
		})
	}
	if exitCode(errors.New("boom")) != exitFailure || (usageError{errors.New("x")}).Unwrap() == nil {
		t.Error("exitCode of a plain error")
	}
}

// Without a terminal there is no progress output at all; on one, a bar with
// count, rate and time left.
func TestMeter(t *testing.T) {
	var buf bytes.Buffer
	m := newMeter(&buf, "export", 10, false) // a buffer is not a terminal
	m.add(5)
	m.done()
	if _, err := m.Write([]byte("abc")); err != nil || buf.Len() != 0 {
		t.Fatalf("meter wrote %q off a terminal", buf.String())
	}

	m = newMeterIf(true, &buf, "export", 10, false)
	m.add(10)
	m.done()
	if out := buf.String(); !strings.Contains(out, "export") || !strings.Contains(out, "10/10") || !strings.Contains(out, "events/s") {
		t.Errorf("bar %q lacks the label, count or rate", out)
	}
	buf.Reset()
	m = newMeterIf(true, &buf, "import", 2048, true)
	_, _ = m.Write(make([]byte, 1024))
	m.done()
	if out := buf.String(); !strings.Contains(out, "import") || !strings.Contains(out, "kB") {
		t.Errorf("bytes bar %q", out)
	}
}

func TestSelectionTotal(t *testing.T) {
	url, _ := seedOrders(t)
	store := sharedStore(url)
	for _, tt := range []struct {
		args []string
		want int64
	}{
		{[]string{"order-1"}, 3},
		{[]string{"order-1", "--from", "1"}, 2},
		{[]string{"order-1", "--count", "1"}, 1},
		{[]string{"order-1", "--backwards"}, 3},
		{[]string{"nope"}, -1},
		{[]string{"$all"}, -1},
	} {
		var sel selection
		cmd := &cobra.Command{Use: "read"}
		cmd.Flags().Uint64Var(&sel.from, "from", 0, "")
		cmd.Flags().Uint64Var(&sel.count, "count", 0, "")
		cmd.Flags().BoolVar(&sel.backwards, "backwards", false, "")
		if err := cmd.ParseFlags(tt.args[1:]); err != nil {
			t.Fatal(err)
		}
		if err := sel.prepare(cmd, tt.args[:1], ""); err != nil {
			t.Fatal(err)
		}
		if got := sel.total(t.Context(), store); got != tt.want {
			t.Errorf("total of %v = %d, want %d", tt.args, got, tt.want)
		}
	}
}

// A $all read's bar counts positions up to the newest event, so it has a
// total (and so a time left) too.
func TestMeterAll(t *testing.T) {
	url, _ := seedOrders(t)
	store := sharedStore(url)
	var head eventstore.Position
	for e, err := range store.ReadAll(t.Context(), eventstore.ReadAllOptions{Direction: eventstore.Backwards, From: eventstore.End, MaxCount: 1}) {
		if err != nil {
			t.Fatal(err)
		}
		head = e.Position
	}
	for _, args := range [][]string{{"$all"}, {"$all", "--from-position", "C:2/P:2"}} {
		var sel selection
		cmd := &cobra.Command{Use: "read"}
		sel.addRangeFlags(cmd)
		if err := cmd.ParseFlags(args[1:]); err != nil {
			t.Fatal(err)
		}
		if err := sel.prepare(cmd, args[:1], ""); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		m := sel.meterIf(t.Context(), store, &buf, "read", true)
		if !m.positional {
			t.Fatalf("%v: not a positional meter", args)
		}
		for e, err := range sel.read(t.Context(), store) {
			if err != nil {
				t.Fatal(err)
			}
			m.event(&e)
		}
		m.done()
		want := fmt.Sprintf("%d/%d", head.Commit-m.base, head.Commit-m.base)
		if out := buf.String(); !strings.Contains(out, want) {
			t.Errorf("%v: bar %q lacks %s", args, out, want)
		}
	}
	if (&selection{stream: "x"}).meter(t.Context(), store, &bytes.Buffer{}, "read").bar != nil {
		t.Error("a meter off a terminal has a bar")
	}
}
