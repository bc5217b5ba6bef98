package esdbserver_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// buildKurrentCheck builds internal/kurrentcheck, the program that drives a
// server with KurrentDB-Client-Go (its protocol packages cannot share a
// binary with EventStore-Client-Go v4's).
func buildKurrentCheck(t *testing.T) string {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go tool to build internal/kurrentcheck")
		}
	}
	bin := filepath.Join(t.TempDir(), "kurrentcheck")
	out, err := exec.Command(goTool, "build", "-o", bin, "./internal/kurrentcheck").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./internal/kurrentcheck: %v\n%s", err, out)
	}
	return bin
}

// runKurrentCheck runs the program against srv's connection string and
// returns its "ok" lines; it fails the test with the program's output when
// the program fails.
func runKurrentCheck(t *testing.T, bin, conn string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-conn", conn}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kurrentcheck %v: %v\n%s", args, err, out)
	}
	var oks []string
	for line := range strings.SplitSeq(string(out), "\n") {
		if s, ok := strings.CutPrefix(line, "ok "); ok {
			oks = append(oks, s)
		}
	}
	if !strings.Contains(string(out), "\nPASS") {
		t.Fatalf("kurrentcheck %v did not pass:\n%s", args, out)
	}
	return oks
}

func containsAll(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("check %q did not pass; passed: %q", w, got)
		}
	}
}

var kurrentStreamChecks = []string{
	"append", "read stream", "read $all backwards", "read missing stream",
	"subscribe to stream: caught up with timestamp and revision", "subscribe to stream: live event",
	"subscribe to missing stream: caught up without revision",
	"subscribe to $all: caught up with timestamp and position", "subscribe to filtered $all: caught up",
}

// TestKurrentDBClient drives the server with the newest Go client: its
// subscriptions report caught-up (and fell-behind) only when those
// messages carry the newer protocol's timestamp and place; its persistent
// subscriptions run against the memory store's.
func TestKurrentDBClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds and runs a separate program")
	}
	bin := buildKurrentCheck(t)
	_, srv := newMemoryServer(t)
	got := runKurrentCheck(t, bin, srv.ConnectionString(), "-fellbehind", "3000", "-persistent")
	containsAll(t, got, append(kurrentStreamChecks,
		"subscribe to $all: fell behind",
		"persistent: create", "persistent: create again", "persistent: subscribe, ack, nack retry", "persistent: info",
		"persistent: list", "persistent: replay parked, restart", "persistent: delete", "persistent $all: create, info, delete")...)
}
