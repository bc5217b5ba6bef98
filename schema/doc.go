// Package schema is Chronicle's registry of event types: it maps Go types to
// event type names and versions, generates and compiles their JSON Schemas,
// validates events on the way into a store, upcasts old versions on the way
// out, and publishes the schemas themselves as events.
//
// # Registering types
//
// A [Registry] holds the types. [Register] adds a struct type T as a version
// (≥ 1) of an event type; its JSON Schema is generated from the Go type with
// github.com/invopop/jsonschema and compiled once with
// github.com/santhosh-tekuri/jsonschema/v5. Struct tags express the rules:
//
//	type CustomerRegistered struct {
//		CustomerID string `json:"customerId" jsonschema:"required,minLength=1"`
//		Email      string `json:"email" jsonschema:"required,format=email"`
//		Plan       string `json:"plan" jsonschema:"required,enum=free,enum=pro"`
//		Seats      int    `json:"seats,omitempty" jsonschema:"minimum=1,maximum=500"`
//		Referrer   string `json:"referrer,omitempty" jsonschema:"pattern=^[a-z]+$"`
//	}
//
//	reg, err := schema.MustNewRegistry()
//	schema.MustRegister[CustomerRegistered](reg, "CustomerRegistered", 1)
//
// A property is required only when its jsonschema tag says "required" (a
// required string may still be empty; add minLength=1). Objects admit no
// properties their type does not declare. Formats (email, date-time, uuid,
// uri, …) are asserted. The generated schema is deterministic: it depends
// only on the type's JSON shape and tags (and the names of nested named
// types, which appear under $defs), never on the Go package path, and it is
// kept in a canonical form (sorted keys, sorted "required") so that two
// schemas are the same exactly when their bytes are.
//
// The highest version registered for a name with a Go type is its current
// version.
//
// # Encoding and decoding
//
// [Registry.Encode] turns a registered value into [eventstore.EventData],
// validating it first: an invalid event returns a [*ValidationError] listing
// every violated field as a JSON pointer with the rule it breaks, and
// nothing reaches a store. [Registry.Decode] turns a recorded event back
// into an [Event] whose Data is a value of the current version's Go type.
// [Registry.Validate] validates raw JSON by type name and version, for tools
// without the Go types.
//
// Every document goes through the JSON Schema validator
// (santhosh-tekuri/jsonschema) and nothing else, so a document it rejects is
// never accepted. Data must be exactly one JSON value: anything after it is
// malformed. Validation is the dominant cost of Encode (about 12x encoding
// alone for a typical event on the reference machine, see
// BenchmarkEncodeValidate); [WithoutValidation] turns it off for trusted
// producers.
//
// An unknown type or version is an [*UnknownTypeError] or
// [*UnknownVersionError]; [WithUnknown]([Skip]) marks them so they match
// [ErrSkipped] as well, for consumers that should ignore what they do not
// know.
//
// # Metadata
//
// Encode writes the event's metadata as a JSON object with string values
// (see [Metadata]): "schemaVersion" (the payload's version), "$correlationId"
// and "$causationId" (the keys EventStoreDB's projections use), the W3C
// "traceparent" and "tracestate" of the span in the context, "$traceId" and
// "$spanId" (the keys KurrentDB's clients use), and "decidedAt" (RFC 3339
// with nanoseconds, UTC). Decode reads them back into Event.Metadata.
//
// [WithCorrelation] puts correlation and causation IDs in a context;
// [ContextFrom] derives the context for handling an event: causation = the
// event's ID, correlation copied from it, its trace continued.
//
// # Versions and upcasters
//
// Events are immutable, so their schemas are too. To change an event type,
// register the changed Go type under the next version and an [Upcaster]
// from the previous one (with [Registry.RegisterUpcaster] or [UpcastFrom]).
// Upcasters chain: data stored at v1 reaches v3 through v1→v2 and v2→v3, and
// the result is validated against the current schema before it is decoded.
//
// Compatible changes are those after which every event written under the
// old schema is still valid under the new one, and means the same:
//
//   - adding an optional property (no "required" tag);
//   - loosening a rule: removing "required", widening bounds or an enum,
//     dropping a format or pattern;
//   - changing annotations only: title, description, examples.
//
// A compatible change still gets a new version (the published schema of a
// version never changes, see below), but its upcaster is [Identity]: the old
// data is new data as it is. Incompatible changes need an upcaster that
// rewrites the data: removing or renaming a property, changing its type or
// meaning, making a property required, or tightening a rule (new bounds,
// enum values removed, a new pattern or format).
//
// # Schemas are events
//
// [Registry.Publish] appends every registered (type, version) not yet
// published to the schema stream ([DefaultSchemaStream], a user stream,
// since '$' names are reserved for the store) as a [PublishedEventType] event,
// so tools and other services can validate and render events without the Go
// types. Run it at start-up: it also checks that the schema the code
// generates for each published (type, version) is byte-for-byte the
// published one, and otherwise fails with a [*ChangedError] saying to
// bump the version and register an upcaster. A tool without the Go types
// calls [Registry.Load] to add the published schemas (or [Registry.AddSchema]
// for one) and then validates with [Registry.Validate]. [Registry.Export]
// writes every schema to a directory as <type>.v<version>.schema.json files.
package schema
