package main

import (
	"context"
	"os"
	"testing"
)

// TestRun runs the quick start twice against a fresh embedded store, as the
// README tells users to, and checks the file was created with mode 0600.
func TestRun(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("CHRONICLE_STORE", "")
	for range 2 {
		if err := run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat("chronicle.db")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("chronicle.db mode %v", fi.Mode().Perm())
	}
}
