package sqlite

import (
	"errors"
	"fmt"
	"syscall"
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
	// ErrFailed: the store stopped after an I/O error left the outcome of
	// a commit unknown. Every later call returns it (as a *FailedError)
	// until the store is closed and opened again; the new Store recovers
	// exactly what is on disk.
	ErrFailed = errors.New("sqlite: store failed; close and reopen it")
	// ErrDiskFull: the file system had no room for a write. The error is a
	// *DiskFullError, which also matches syscall.ENOSPC. An append that
	// fails with it wrote nothing, and the store goes on.
	ErrDiskFull = errors.New("sqlite: disk full")
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

// A FailedError is the error of every call to a store that failed (see
// ErrFailed); Err is the I/O error that made it fail.
type FailedError struct {
	Err error
}

func (e *FailedError) Error() string {
	return fmt.Sprintf("sqlite: store failed after an I/O error, close and reopen it: %v", e.Err)
}

// Is reports whether target is ErrFailed.
func (e *FailedError) Is(target error) bool { return target == ErrFailed }

// Unwrap returns the I/O error.
func (e *FailedError) Unwrap() error { return e.Err }

// A DiskFullError reports a write the file system had no room for.
type DiskFullError struct {
	Op   string // "commit", "open", …
	Need int64  // bytes the operation needed, when known
	Err  error  // the driver's or the operating system's error
}

func (e *DiskFullError) Error() string {
	if e.Need > 0 {
		return fmt.Sprintf("sqlite: %s: disk full (needs %d bytes free): %v", e.Op, e.Need, e.Err)
	}
	return fmt.Sprintf("sqlite: %s: disk full: %v", e.Op, e.Err)
}

// Is reports whether target is ErrDiskFull or syscall.ENOSPC.
func (e *DiskFullError) Is(target error) bool {
	return target == ErrDiskFull || target == syscall.ENOSPC
}

// Unwrap returns the underlying error.
func (e *DiskFullError) Unwrap() error { return e.Err }

// SQLite's primary result codes that the store tells apart.
const (
	codeError    = 1  // SQLITE_ERROR: e.g. ROLLBACK with no transaction
	codeReadOnly = 8  // SQLITE_READONLY
	codeIOErr    = 10 // SQLITE_IOERR
	codeCorrupt  = 11 // SQLITE_CORRUPT
	codeFull     = 13 // SQLITE_FULL
)

// resultCode returns SQLite's primary result code behind err, or 0.
func resultCode(err error) int {
	var e interface{ Code() int } // the driver's *sqlite.Error, or a *rawError
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

// isIOError reports whether err is SQLite's I/O error or corruption.
func isIOError(err error) bool {
	c := resultCode(err)
	return c == codeIOErr || c == codeCorrupt
}
