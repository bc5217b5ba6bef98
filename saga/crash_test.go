package saga_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chronicle-go/chronicle/eventstore/sqlite"
	"github.com/chronicle-go/chronicle/saga"
)

var killCycles = flag.Int("kill.cycles", 20, "SIGKILL/restart cycles of TestSagaCrashSafety")

const (
	crashEnv   = "CHRONICLE_SAGA_CRASH_CHILD" // the test directory, in the child
	crashSagas = 60
)

// fileService is the external service of the crash test, in a file shared by
// the child processes: it logs every call's key, and applies an effect once
// per key (a key it has applied before is acknowledged without applying it
// again, as an idempotent service does).
type fileService struct {
	mu      sync.Mutex
	f       *os.File
	applied map[string]bool
}

func openFileService(path string) (*fileService, error) {
	s := &fileService{applied: make(map[string]bool)}
	if data, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, ok := strings.CutPrefix(line, "applied "); ok {
				s.applied[k] = true
			}
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	s.f = f
	return s, nil
}

func (s *fileService) call(op, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	what := "applied"
	if s.applied[op+" "+key] {
		what = "duplicate"
	}
	if _, err := fmt.Fprintf(s.f, "%s %s %s\n", what, op, key); err != nil {
		return err
	}
	if err := s.f.Sync(); err != nil {
		return err
	}
	s.applied[op+" "+key] = true
	return nil
}

// crashDefinition: three steps; "ship" fails for every third order, so
// those sagas are compensated.
func crashDefinition(svc *fileService) *saga.Definition[Order] {
	step := func(name string) saga.Step[Order] {
		return saga.Step[Order]{
			Name: name,
			Action: func(ctx context.Context, sc saga.StepContext[Order]) error {
				if name == "ship" && sc.Input.Amount%3 == 0 {
					return errDown
				}
				return svc.call(name, sc.Key)
			},
			Compensate: func(ctx context.Context, sc saga.StepContext[Order]) error { return svc.call("undo-"+name, sc.Key) },
			Retry:      fastRetry(2),
			Timeout:    10 * time.Second,
		}
	}
	return saga.New("crash", step("reserve"), step("charge"), step("ship"))
}

// TestSagaCrashChild is the child of TestSagaCrashSafety: it resumes the
// unfinished sagas and starts the others, from several goroutines, until
// all have ended or it is killed.
func TestSagaCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("run by TestSagaCrashSafety")
	}
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		fail(err)
	}
	svc, err := openFileService(filepath.Join(dir, "service.log"))
	if err != nil {
		fail(err)
	}
	// The same instance ID as before the crash: leases come back at once.
	e, err := saga.NewEngine(store, newRegistry(), crashDefinition(svc), saga.WithInstanceID("node"))
	if err != nil {
		fail(err)
	}
	if _, err := e.ResumeAll(ctx); err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := g; i < crashSagas; i += 4 {
				id := fmt.Sprintf("o%d", i)
				if _, err := e.Start(ctx, id, Order{id, i + 1}); err != nil {
					fail(err)
				}
			}
		})
	}
	wg.Wait()
	fmt.Println("done")
	store.Close()
	os.Exit(0)
}

// TestSagaCrashSafety runs sagas in a child process that is SIGKILLed at
// random moments, restarts it, and checks that every saga ends completed or
// compensated and that no step's effect was applied under two keys.
func TestSagaCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(kill time.Duration) (string, error) {
		cmd := exec.Command(bin, "-test.run=^TestSagaCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if kill > 0 {
			timer := time.AfterFunc(kill, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
			defer timer.Stop()
		}
		err := cmd.Wait()
		return out.String(), err
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills := 0
	for c := range *killCycles {
		out, err := run(time.Duration(3+rng.IntN(80)) * time.Millisecond)
		if err == nil {
			if !strings.Contains(out, "done") {
				t.Fatalf("cycle %d: child exited without finishing:\n%s", c, out)
			}
			continue
		}
		if strings.Contains(out, "error ") {
			t.Fatalf("cycle %d: child failed: %v\n%s", c, err, out)
		}
		kills++
	}
	if out, err := run(0); err != nil || !strings.Contains(out, "done") {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	t.Logf("%d cycles, %d killed mid-run", *killCycles, kills)

	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	states, err := listAll(ctx, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != crashSagas {
		t.Fatalf("%d sagas; want %d", len(states), crashSagas)
	}
	// Effects applied, by saga and operation, with the keys that applied them.
	f, err := os.Open(filepath.Join(dir, "service.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	applied := make(map[string][]string) // "<id> <op>" → keys
	seen := make(map[string]bool)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			t.Fatalf("service log line %q", sc.Text())
		}
		key := fields[2]
		parts := strings.Split(key, "/")
		if fields[0] == "applied" {
			if seen[fields[1]+" "+key] {
				t.Errorf("the service applied %s %s twice", fields[1], key)
			}
			seen[fields[1]+" "+key] = true
			applied[parts[1]+" "+fields[1]] = append(applied[parts[1]+" "+fields[1]], key)
		}
	}
	for _, st := range states {
		var want []string
		switch st.Status {
		case saga.Completed:
			want = []string{"reserve", "charge", "ship"}
		case saga.Compensated:
			want = []string{"reserve", "charge", "undo-charge", "undo-reserve"}
		default:
			t.Errorf("saga %s ended %s", st.ID, st.Status)
			continue
		}
		for _, op := range want {
			if keys := applied[st.ID+" "+op]; len(keys) != 1 {
				t.Errorf("saga %s: %s applied under %d keys %v; want exactly one", st.ID, op, len(keys), keys)
			}
		}
	}
}
