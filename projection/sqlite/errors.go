package sqlite

import (
	"errors"
)

var (
	// ErrNotLive: DB was asked for a projection that has no live version.
	ErrNotLive = errors.New("sqlite: projection has no live version")
	// ErrClosed: the Target was closed.
	ErrClosed = errors.New("sqlite: target closed")
)
