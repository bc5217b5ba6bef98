package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/sqlite"
)

const readerEnv = "CHRONICLE_SQLITE_READER_CHILD" // the store file, in the child

// TestReaderChild is the child of TestOtherProcess: it opens the store
// read-only while the parent holds it open for writing, and reports what it
// saw and what it was refused.
func TestReaderChild(t *testing.T) {
	path := os.Getenv(readerEnv)
	if path == "" {
		t.Skip("run by TestOtherProcess")
	}
	ctx := context.Background()
	_, err := sqlite.Open(ctx, path)
	fmt.Printf("writer-locked %v\n", errors.Is(err, sqlite.ErrLocked))
	s, err := sqlite.Open(ctx, path, sqlite.ReadOnly())
	if err != nil {
		fmt.Println("error", err)
		return
	}
	defer s.Close()
	n := 0
	for _, err := range s.ReadAll(ctx, eventstore.ReadAllOptions{}) {
		if err != nil {
			fmt.Println("error", err)
			return
		}
		n++
	}
	fmt.Printf("events %d\n", n)
	_, err = s.Append(ctx, "from-child", eventstore.Any, event("E"))
	fmt.Printf("append-refused %v\n", errors.Is(err, sqlite.ErrReadOnly))
}

// TestOtherProcess checks that another process can read the store while this
// one has it open for writing, and cannot write to it.
func TestOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	s := openAt(t, path)
	for range 5 {
		mustAppend(t, s, "a", eventstore.Any, event("E"), event("E"))
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestReaderChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), readerEnv+"="+path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{"writer-locked true", "events 10", "append-refused true"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
	mustAppend(t, s, "a", eventstore.Any, event("E")) // still writable here
	wantGapFree(t, s, 11)
}
