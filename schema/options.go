package schema

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/internal/clock"
)

// UnknownPolicy says what Decode does with an event whose type or version the
// registry does not know.
type UnknownPolicy uint8

const (
	// Fail makes Decode return an *UnknownTypeError or *UnknownVersionError
	// (the default).
	Fail UnknownPolicy = iota
	// Skip makes Decode return the same errors marked Skipped, so they also
	// match ErrSkipped and a consumer can ignore the event: a service that
	// reads $all, or an old instance during a rolling deploy that meets a
	// version written by a newer one.
	Skip
)

func (p UnknownPolicy) String() string {
	if p == Skip {
		return "skip"
	}
	return "fail"
}

// DefaultSchemaStream is the stream Publish appends schemas to. Names
// starting with '$' are reserved for the store, so it is a user stream.
const DefaultSchemaStream = "chronicle-schemas"

// An Option configures a Registry. NewRegistry fails with ErrInvalidOption
// when an option is given a value it cannot use.
type Option func(*config) error

type config struct {
	clock    Clock
	ids      func() uuid.UUID
	unknown  UnknownPolicy
	validate bool
	stream   string
}

func defaultConfig() config {
	return config{
		clock:    clock.System,
		ids:      uuid.New,
		unknown:  Fail,
		validate: true,
		stream:   DefaultSchemaStream,
	}
}

// A Clock tells the time and runs functions later; it is the one clock
// type of Chronicle's packages (aggregate.Clock and resilience.Clock are
// the same type), so one fake clock (testkit.Clock) drives them all:
//
//	Now() time.Time
//	AfterFunc(d time.Duration, f func()) (stop func() bool)
type Clock = clock.Clock

// WithClock sets the clock that stamps the decided-at time of encoded
// events (default: the system clock). Tests pass a testkit.Clock.
func WithClock(c Clock) Option {
	return func(cfg *config) error {
		if c == nil {
			return fmt.Errorf("%w: WithClock(nil)", ErrInvalidOption)
		}
		cfg.clock = c
		return nil
	}
}

// WithIDs sets the source of encoded events' IDs (default uuid.New, random
// version 4 UUIDs). Tests pass a deterministic sequence. The function must be
// safe for concurrent use if Encode is called concurrently.
func WithIDs(next func() uuid.UUID) Option {
	return func(c *config) error {
		if next == nil {
			return fmt.Errorf("%w: WithIDs(nil)", ErrInvalidOption)
		}
		c.ids = next
		return nil
	}
}

// WithUnknown sets the policy for unknown types and versions on Decode
// (default Fail).
func WithUnknown(p UnknownPolicy) Option {
	return func(c *config) error {
		if p != Fail && p != Skip {
			return fmt.Errorf("%w: WithUnknown(%d): unknown policy", ErrInvalidOption, p)
		}
		c.unknown = p
		return nil
	}
}

// WithoutValidation makes Encode skip JSON Schema validation, for trusted
// paths that encode values the program built itself (and for measuring what
// validation costs). Validate and the check of upcast output still validate.
func WithoutValidation() Option {
	return func(c *config) error { c.validate = false; return nil }
}

// WithSchemaStream sets the stream Publish uses (default
// DefaultSchemaStream). It must be a valid stream name not starting with
// '$'.
func WithSchemaStream(stream string) Option {
	return func(c *config) error {
		if err := eventstore.ValidateStreamName("append", stream, false); err != nil {
			return fmt.Errorf("%w: WithSchemaStream(%q): %v", ErrInvalidOption, stream, err)
		}
		c.stream = stream
		return nil
	}
}

// A RegisterOption configures one registration; Register fails with
// ErrInvalidRegistration when one is given a value it cannot use.
type RegisterOption func(*registration) error

type registration struct {
	description string
	upcaster    Upcaster
}

// WithDescription sets the description of the generated JSON Schema.
func WithDescription(text string) RegisterOption {
	return func(r *registration) error { r.description = text; return nil }
}

// UpcastFrom registers fn as the upcaster from the previous version to the
// one being registered; it is RegisterUpcaster(eventType, version-1, fn).
func UpcastFrom(fn Upcaster) RegisterOption {
	return func(r *registration) error {
		if fn == nil {
			return registrationError("UpcastFrom(nil)")
		}
		r.upcaster = fn
		return nil
	}
}
