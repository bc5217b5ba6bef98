package eventstore

import (
	"regexp"
	"strings"
)

// FrameworkCategory is the category of every stream Chronicle writes for
// itself: published schemas, aggregate snapshots, circuit-breaker
// transitions, projection checkpoints and parked events, saga logs. Their
// names all start with FrameworkStreamPrefix ("chronicle-"), so they form one
// category, as EventStoreDB's $ce-chronicle would show them, and never
// collide with an application's categories, which must not be "chronicle".
//
//	chronicle-schemas                      schema.DefaultSchemaStream
//	chronicle-snapshot-<stream>            aggregate snapshots
//	chronicle-breaker-<name>               resilience.BreakerStream
//	chronicle-checkpoint-<projection>      projection checkpoints
//	chronicle-parked-<projection>          projection parked events
//
// Projections and `chronicle validate` leave these streams out unless asked
// for them; ExcludeFrameworkFilter builds the server-side filter that does.
const FrameworkCategory = "chronicle"

// FrameworkStreamPrefix starts the name of every framework stream.
const FrameworkStreamPrefix = FrameworkCategory + "-"

// FrameworkStream returns the name of the framework stream of the given kind
// for name: "chronicle-<kind>-<name>", or "chronicle-<kind>" when name is
// empty.
func FrameworkStream(kind, name string) string {
	if name == "" {
		return FrameworkStreamPrefix + kind
	}
	return FrameworkStreamPrefix + kind + "-" + name
}

// IsFrameworkStream reports whether stream is one Chronicle writes for
// itself: its name starts with FrameworkStreamPrefix.
func IsFrameworkStream(stream string) bool { return strings.HasPrefix(stream, FrameworkStreamPrefix) }

// ExcludeFrameworkFilter keeps the events of application streams only: it
// leaves out framework streams (IsFrameworkStream) and the store's own
// ('$'-prefixed) streams. It is a stream-name regular expression without
// look-arounds, so EventStoreDB's server evaluates it the same way.
func ExcludeFrameworkFilter() *Filter { return StreamRegexFilter(excludeFrameworkExpr) }

// excludeFrameworkExpr matches a non-empty name that starts with neither '$'
// nor FrameworkStreamPrefix: it spells out "differs from the prefix at some
// character, or ends inside it".
var excludeFrameworkExpr = func() string {
	p := regexp.QuoteMeta(FrameworkStreamPrefix[:1])
	var b strings.Builder
	b.WriteString(`^(?:[^$` + p + `]`)
	for i := 1; i < len(FrameworkStreamPrefix); i++ {
		c := regexp.QuoteMeta(FrameworkStreamPrefix[i-1 : i])
		b.WriteString(`|` + c + `(?:$|[^` + regexp.QuoteMeta(FrameworkStreamPrefix[i:i+1]) + `]`)
	}
	b.WriteString(strings.Repeat(")", len(FrameworkStreamPrefix)))
	return b.String()
}()
