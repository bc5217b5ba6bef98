package schema

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Callers branch with errors.Is; the typed errors below carry
// the details and match these.
var (
	// ErrValidation: an event does not satisfy its JSON Schema. The error is
	// a *ValidationError listing every violation.
	ErrValidation = errors.New("schema: validation failed")
	// ErrUnknownType: no Go type or schema is registered for the event type
	// (or, on Encode, the Go value's type is not registered). The error is an
	// *UnknownTypeError.
	ErrUnknownType = errors.New("schema: unknown event type")
	// ErrUnknownVersion: the event type is registered but the version is not,
	// and no upcaster starts from it. The error is an *UnknownVersionError.
	ErrUnknownVersion = errors.New("schema: unknown schema version")
	// ErrSkipped: Decode met an unknown type or version under the Skip
	// policy; the event should be ignored. The error also matches
	// ErrUnknownType or ErrUnknownVersion.
	ErrSkipped = errors.New("schema: event skipped")
	// ErrChanged: a schema published for a (type, version) differs from
	// the one the code generates. The error is a *ChangedError.
	ErrChanged = errors.New("schema: schema changed without a new version")
	// ErrUpcast: an upcaster is missing, failed, or produced data that is not
	// valid for the version it upcasts to. The error is an *UpcastError.
	ErrUpcast = errors.New("schema: upcast failed")
	// ErrInvalidRegistration: Register or RegisterUpcaster was called with a
	// bad name, version or type, or registered something twice.
	ErrInvalidRegistration = errors.New("schema: invalid registration")
	// ErrInvalidOption: NewRegistry was given an Option it cannot use.
	ErrInvalidOption = errors.New("schema: invalid option")
	// ErrMalformed: an event's data or metadata, or a published schema
	// event, is not the JSON it must be.
	ErrMalformed = errors.New("schema: malformed event")
)

// A Violation is one rule an event breaks.
type Violation struct {
	// Pointer is the JSON pointer (RFC 6901) of the offending value, e.g.
	// "/customer/email"; "" is the whole document. For a missing required
	// property it points at where the property should be.
	Pointer string
	// Keyword is the JSON Schema keyword that failed: "required", "format",
	// "enum", "minimum", "pattern", "type", "additionalProperties", …
	Keyword string
	// Message says what is wrong, in English.
	Message string
}

func (v Violation) String() string {
	p := v.Pointer
	if p == "" {
		p = "(root)"
	}
	return p + ": " + v.Keyword + ": " + v.Message
}

// A ValidationError lists every violation of an event of Type at Version,
// ordered by Pointer. It matches ErrValidation.
type ValidationError struct {
	Type       string
	Version    int
	Violations []Violation
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schema: %s v%d is invalid: ", e.Type, e.Version)
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

func (e *ValidationError) Is(target error) bool { return target == ErrValidation }

// An UnknownTypeError reports an event type (or, on Encode, a Go type) the
// registry does not know. It matches ErrUnknownType, and ErrSkipped when
// Skipped is set.
type UnknownTypeError struct {
	// Type is the event type name; empty when the Go type was looked up.
	Type string
	// GoType is the Go type Encode or TypeOf was given; empty on Decode.
	GoType string
	// Skipped reports that Decode ran under the Skip policy.
	Skipped bool
}

func (e *UnknownTypeError) Error() string {
	msg := "schema: unknown event type " + quote(e.Type)
	if e.GoType != "" {
		msg = "schema: Go type " + e.GoType + " is not registered"
	}
	if e.Skipped {
		msg += " (skipped)"
	}
	return msg
}

func (e *UnknownTypeError) Is(target error) bool {
	return target == ErrUnknownType || (e.Skipped && target == ErrSkipped)
}

// An UnknownVersionError reports a version of a known event type that is not
// registered and cannot be upcast, e.g. one written by newer code. It matches
// ErrUnknownVersion, and ErrSkipped when Skipped is set.
type UnknownVersionError struct {
	Type    string
	Version int
	// Current is the highest version registered for Type.
	Current int
	// Skipped reports that Decode ran under the Skip policy.
	Skipped bool
}

func (e *UnknownVersionError) Error() string {
	msg := fmt.Sprintf("schema: unknown version %d of event type %s (current version %d)", e.Version, quote(e.Type), e.Current)
	if e.Skipped {
		msg += " (skipped)"
	}
	return msg
}

func (e *UnknownVersionError) Is(target error) bool {
	return target == ErrUnknownVersion || (e.Skipped && target == ErrSkipped)
}

// A ChangedError reports that the JSON Schema the code generates for
// Type at Version differs from the one published to the schema stream. A
// published schema is a contract: change the Go type under a new version.
// It matches ErrChanged.
type ChangedError struct {
	Type    string
	Version int
	// Published and Current are the two schemas, canonical JSON.
	Published, Current []byte
	// Differences lists where they differ, as JSON pointers into the schema
	// with "added", "removed" or "changed" (at most a few).
	Differences []string
}

func (e *ChangedError) Error() string {
	msg := fmt.Sprintf("schema: %s v%d: the schema in code differs from the published one", e.Type, e.Version)
	if len(e.Differences) > 0 {
		msg += " (" + strings.Join(e.Differences, ", ") + ")"
	}
	return msg + fmt.Sprintf("; bump the version (register the changed type as v%d) and register an upcaster from v%d", e.Version+1, e.Version)
}

func (e *ChangedError) Is(target error) bool { return target == ErrChanged }

// An UpcastError reports a failed upcast of an event of Type from From to
// To. It matches ErrUpcast and unwraps to the cause (the upcaster's error, a
// *ValidationError for invalid output, or nil when no upcaster is
// registered).
type UpcastError struct {
	Type     string
	From, To int
	Err      error
}

func (e *UpcastError) Error() string {
	msg := fmt.Sprintf("schema: upcast %s v%d to v%d", e.Type, e.From, e.To)
	if e.Err == nil {
		return msg + ": no upcaster registered"
	}
	return msg + ": " + e.Err.Error()
}

func (e *UpcastError) Is(target error) bool { return target == ErrUpcast }
func (e *UpcastError) Unwrap() error        { return e.Err }

func quote(s string) string { return fmt.Sprintf("%q", s) }
