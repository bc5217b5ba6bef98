//go:build !unix

package sqlite

import (
	"fmt"
	"os"
)

// lockFile creates the lock file; platforms without flock rely on SQLite's
// own locking to keep a second writer from corrupting the file.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open lock file: %w", err)
	}
	return f, nil
}

// syncDir does nothing: directories cannot be synced on this platform (the
// file system records new names durably on its own).
func syncDir(string) error { return nil }
