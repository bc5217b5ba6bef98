package sqlite

import (
	"errors"
	"fmt"
)

var (
	// ErrReadOnly: a write was attempted on a store opened with ReadOnly.
	ErrReadOnly = errors.New("sqlite: store is read-only")
	// ErrLocked: another Store (in this process or another) has the file
	// open for writing. The error is a *LockedError.
	ErrLocked = errors.New("sqlite: store is locked by another writer")
	// ErrNotStore: the file is an SQLite database but not a Chronicle store,
	// or one written by a newer, incompatible version.
	ErrNotStore = errors.New("sqlite: not a chronicle store")
)

// A LockedError says which lock file another writer holds.
type LockedError struct {
	// Path is the lock file, the database path with ".lock" appended.
	Path string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("sqlite: %s is locked by another writer (open it with sqlite.ReadOnly to read while it writes)", e.Path)
}

// Is reports whether target is ErrLocked.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }
