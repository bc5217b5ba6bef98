package eventstore

import (
	"fmt"
	"unicode/utf8"
)

// Limits every Store enforces.
const (
	// MaxEventSize bounds one event: len(Data) + len(Metadata) + 2×len(Type),
	// EventStoreDB's default (16 MiB).
	MaxEventSize = 16 << 20
	// MaxStreamNameLength bounds a stream name, in bytes.
	MaxStreamNameLength = 1024
)

// ValidateStreamName checks a stream name for op. System names ('$'-prefixed)
// are accepted only when system is true (reads may name them; user appends
// may not).
func ValidateStreamName(op, stream string, system bool) error {
	switch {
	case stream == "":
		return NewArgumentError(op, stream, ErrEmptyStreamName, "")
	case len(stream) > MaxStreamNameLength:
		return NewArgumentError(op, stream[:32]+"…", ErrStreamNameTooLong, fmt.Sprintf("%d bytes, at most %d", len(stream), MaxStreamNameLength))
	case !utf8.ValidString(stream):
		return NewArgumentError(op, stream, ErrInvalidStreamName, "not UTF-8")
	case hasControl(stream):
		return NewArgumentError(op, stream, ErrInvalidStreamName, "control character")
	case !system && IsSystemStream(stream):
		return NewArgumentError(op, stream, ErrReservedStreamName, "")
	}
	return nil
}

// hasControl reports whether s holds a control character (U+0000–U+001F,
// U+007F–U+009F). Such names cannot travel in a gRPC trailer, a log line or
// a terminal unharmed, so every backend rejects them.
func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			return true
		}
	}
	return false
}

// MaxRevision is the largest revision a stream can have: EventStoreDB keeps
// revisions as signed 64-bit numbers.
const MaxRevision = 1<<63 - 1
