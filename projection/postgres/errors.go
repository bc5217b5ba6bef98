package postgres

import (
	"errors"
)

var (
	// ErrUnreachable: New could not connect to the database.
	ErrUnreachable = errors.New("postgres: database unreachable")
	// ErrSchemaTaken: the schema a projection's name maps to already
	// belongs to another projection (two names that differ only in case or
	// punctuation map to one schema name).
	ErrSchemaTaken = errors.New("postgres: read-model schema taken by another projection")
	// ErrInvalidOption: an option New refuses.
	ErrInvalidOption = errors.New("postgres: invalid option")
)
