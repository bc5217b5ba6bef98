package eventstore_test

import (
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
)

func TestFrameworkStream(t *testing.T) {
	for _, c := range []struct{ kind, name, want string }{
		{"schemas", "", "chronicle-schemas"},
		{"breaker", "payments", "chronicle-breaker-payments"},
		{"snapshot", "order-1", "chronicle-snapshot-order-1"},
	} {
		got := eventstore.FrameworkStream(c.kind, c.name)
		if got != c.want {
			t.Errorf("FrameworkStream(%q, %q) = %q, want %q", c.kind, c.name, got, c.want)
		}
		if !eventstore.IsFrameworkStream(got) || eventstore.Category(got) != eventstore.FrameworkCategory {
			t.Errorf("%q: not recognised as a framework stream of category %q", got, eventstore.FrameworkCategory)
		}
	}
}

// excluded is the rule ExcludeFrameworkFilter must implement, written plainly.
func excluded(stream string) bool {
	return eventstore.IsSystemStream(stream) || eventstore.IsFrameworkStream(stream)
}

func TestExcludeFrameworkFilter(t *testing.T) {
	m, err := eventstore.ExcludeFrameworkFilter().Compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"order-1", "c", "ch", "chronicle", "chronicle_x", "chronicles-1", "chronicle-", "chronicle-schemas",
		"chronicle-breaker-x", "$all", "$$order-1", "$ce-order", "breaker-payments", "snapshot.order-1",
		"xchronicle-1", "Chronicle-x", "chroniclE-x", "c-1", "chr", "chronicl-x", "é", "\x00",
	} {
		if got, want := m.Match(s, "T"), !excluded(s); got != want {
			t.Errorf("Match(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzExcludeFrameworkFilter checks the regular expression against the plain
// rule over arbitrary names, with seeds on every prefix of the framework prefix.
func FuzzExcludeFrameworkFilter(f *testing.F) {
	m, err := eventstore.ExcludeFrameworkFilter().Compile()
	if err != nil {
		f.Fatal(err)
	}
	p := eventstore.FrameworkStreamPrefix
	for i := 0; i <= len(p); i++ {
		f.Add(p[:i])
		f.Add(p[:i] + "x")
		f.Add("$" + p[:i])
	}
	f.Fuzz(func(t *testing.T, s string) {
		if s == "" {
			return
		}
		if got, want := m.Match(s, "T"), !excluded(s); got != want {
			t.Errorf("Match(%q) = %v, want %v", s, got, want)
		}
	})
}
