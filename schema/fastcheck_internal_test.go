package schema

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The fast check must never call valid what the full validator rejects. These
// tests compare the two on many documents, valid and mutated.

type fcAddress struct {
	Street string `json:"street" jsonschema:"required,minLength=1,maxLength=8"`
	Zip    string `json:"zip" jsonschema:"required,pattern=^[0-9]{5}$"`
}

type fcEvent struct {
	ID      string             `json:"id" jsonschema:"required,format=uuid"`
	Email   string             `json:"email" jsonschema:"required,format=email"`
	At      time.Time          `json:"at" jsonschema:"required"`
	Plan    string             `json:"plan" jsonschema:"required,enum=free,enum=pro"`
	Level   int                `json:"level,omitempty" jsonschema:"enum=1,enum=2,enum=3"`
	Seats   int                `json:"seats" jsonschema:"minimum=1,maximum=500"`
	Ratio   float64            `json:"ratio,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	Step    int64              `json:"step,omitempty" jsonschema:"multipleOf=5"`
	Flag    bool               `json:"flag,omitempty"`
	Home    *fcAddress         `json:"home,omitempty"`
	Others  []fcAddress        `json:"others,omitempty" jsonschema:"minItems=1,maxItems=2"`
	Attrs   map[string]int     `json:"attrs,omitempty"`
	Any     any                `json:"any,omitempty"`
	Raw     json.RawMessage    `json:"raw,omitempty"`
	Nested  map[string][]int16 `json:"nested,omitempty"`
	Unicode string             `json:"unicode,omitempty" jsonschema:"minLength=2,maxLength=3"`
}

var handSchemas = []string{
	`{"type":"object","minProperties":1,"maxProperties":2,"properties":{"a":{"type":["string","null"]},"b":{"const":"k"},"c":{"enum":[true,null,7]}}}`,
	`{"type":"array","items":{"type":"number","minimum":-1.5,"maximum":2.25}}`,
	`{"$defs":{"node":{"type":"object","properties":{"next":{"$ref":"#/$defs/node"},"v":{"type":"integer"}},"required":["v"],"additionalProperties":false}},"$ref":"#/$defs/node"}`,
	`{"type":"object","properties":{"s":{"type":"string","format":"date-time"},"h":{"type":"string","format":"hostname"}},"additionalProperties":{"type":"boolean"}}`,
	`true`,
	`{"not":{"type":"null"}}`,
}

func testEntries(t *testing.T) []*entry {
	t.Helper()
	raw, err := generate(reflect.TypeFor[fcEvent](), "FC", "")
	if err != nil {
		t.Fatal(err)
	}
	docs := append([]string{string(raw)}, handSchemas...)
	var out []*entry
	for i, d := range docs {
		c, err := canonical([]byte(d))
		if err != nil {
			t.Fatal(err)
		}
		e, err := compile("FC", i+1, c)
		if err != nil {
			t.Fatalf("schema %d: %v", i, err)
		}
		out = append(out, e)
	}
	if out[0].fast == nil || out[1].fast == nil || out[3].fast == nil || out[4].fast == nil {
		t.Fatal("generated or simple schemas got no fast check")
	}
	if out[6].fast != nil {
		t.Fatal(`a schema using "not" got a fast check`)
	}
	return out
}

var seeds = []string{
	`{"id":"7f1b0c52-4a84-4c8e-9a57-0d1f5b7f2c11","email":"ada@example.com","at":"2024-02-29T23:59:59.5+01:00","plan":"pro","seats":1}`,
	`{"id":"7F1B0C52-4A84-4C8E-9A57-0D1F5B7F2C11","email":"a.b+c@x-y.example","at":"2025-01-01T00:00:00Z","plan":"free","level":2,"seats":500,"ratio":0.25,"step":-10,"flag":true,
	  "home":{"street":"Main","zip":"12345"},"others":[{"street":"é","zip":"00000"}],"attrs":{"a":1},"any":[1,"x",null],"raw":{"k":[]},"nested":{"n":[1,-2]},"unicode":"日本"}`,
	`{"a":null}`, `{"b":"k","c":7}`, `[]`, `[-1.5,2.25,0,1e0]`, `{"v":1,"next":{"v":2,"next":{"v":3}}}`,
	`{"s":"1999-12-31t23:59:60Z","h":"ex-ample.com","x":true}`, `{"s":"2023-02-29T00:00:00Z"}`, `"anything"`, `null`,
}

// TestFastCheckAgreesWithValidator checks every seed and thousands of
// mutations against every schema.
func TestFastCheckAgreesWithValidator(t *testing.T) {
	entries := testEntries(t)
	rng := rand.New(rand.NewPCG(1, 2))
	decided := 0
	total := 0
	for _, seed := range seeds {
		var v any
		if err := json.Unmarshal([]byte(seed), &v); err != nil {
			t.Fatalf("seed %s: %v", seed, err)
		}
		docs := [][]byte{[]byte(seed)}
		for range 400 {
			m := mutate(rng, v, 0)
			b, _ := json.Marshal(m)
			docs = append(docs, b)
			if rng.IntN(8) == 0 {
				docs = append(docs, []byte(" "+strings.ReplaceAll(string(b), ",", " ,\n\t")+"\r\n"))
			}
			if rng.IntN(8) == 0 && len(b) > 2 { // truncated or garbled
				cut := rng.IntN(len(b))
				docs = append(docs, append(append([]byte{}, b[:cut]...), b[cut+1:]...))
			}
		}
		for _, e := range entries {
			for _, doc := range docs {
				total++
				if agree(t, e, doc) {
					decided++
				}
			}
		}
	}
	t.Logf("fast check decided %d of %d documents", decided, total)
}

// agree reports whether the fast check decided doc (valid or invalid), and
// fails the test if it contradicts the full validator.
func agree(t *testing.T, e *entry, doc []byte) bool {
	t.Helper()
	if e.fast == nil {
		return false
	}
	got := e.fast.check(doc)
	v, err := decodeJSON(doc)
	if err != nil {
		if got == valid {
			t.Errorf("schema %d: fast check accepts malformed %s", e.version, doc)
		}
		return got != unsure
	}
	full := e.compiled.Validate(v) == nil
	switch {
	case got == valid && !full:
		t.Errorf("schema %d: fast check accepts %s, which the validator rejects: %v", e.version, doc, e.compiled.Validate(v))
	case got == invalid && full && !hasDuplicateKeys(doc):
		// With duplicate keys the last one counts; the fast check may
		// reject an earlier one, which only costs the full validation.
		t.Errorf("schema %d: fast check rejects %s, which the validator accepts", e.version, doc)
	}
	return got != unsure
}

var pool = []any{
	nil, true, false, 0.0, 1.0, -1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 499.0, 500.0, 501.0, 0.5, 1.5, -1.5, 2.25, 2.5, 1e20, 123456789012345678.0,
	"", "x", "ab", "日本", "日本語x", "a\u0000b", "ABC-1", "12345", "1234", "free", "pro", "k", "Main", "é\"\\/",
	"7f1b0c52-4a84-4c8e-9a57-0d1f5b7f2c11", "7f1b0c52-4a84-4c8e-9a57-0d1f5b7f2c1", "7f1b0c52x4a84-4c8e-9a57-0d1f5b7f2c11",
	"ada@example.com", "ada@", "@example.com", "a..b@example.com", ".a@example.com", "a@-x.com", "a@x-.com", "\"q\"@example.com", "a@[127.0.0.1]", "a b@example.com",
	"2024-02-29T23:59:59Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00.Z", "2024-01-01T00:00:00+24:00",
	"2024-01-01T00:00:00-00:59", "0000-01-01T00:00:00Z", "2024-01-01 00:00:00Z", "1998-12-31T23:59:60Z", "1998-12-31T23:59:60+01:00", "2024-04-31T00:00:00Z",
}

func mutate(rng *rand.Rand, v any, depth int) any {
	if rng.IntN(6) == 0 || depth > 4 {
		return randomValue(rng, depth)
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			switch rng.IntN(10) {
			case 0: // drop
			case 1:
				out[k+"x"] = x
			default:
				out[k] = mutate(rng, x, depth+1)
			}
		}
		if rng.IntN(5) == 0 {
			keys := []string{"id", "email", "plan", "seats", "street", "zip", "a", "b", "c", "v", "next", "s", "h", "zz"}
			out[keys[rng.IntN(len(keys))]] = randomValue(rng, depth+1)
		}
		return out
	case []any:
		var out []any
		for _, x := range v {
			if rng.IntN(8) != 0 {
				out = append(out, mutate(rng, x, depth+1))
			}
		}
		if rng.IntN(4) == 0 {
			out = append(out, randomValue(rng, depth+1))
		}
		return out
	}
	return randomValue(rng, depth)
}

func randomValue(rng *rand.Rand, depth int) any {
	switch n := rng.IntN(12); {
	case n == 0 && depth < 4:
		return map[string]any{"street": pool[rng.IntN(len(pool))], "zip": pool[rng.IntN(len(pool))], "v": pool[rng.IntN(len(pool))]}
	case n == 1 && depth < 4:
		return []any{pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]}
	}
	return pool[rng.IntN(len(pool))]
}

// FuzzFastCheck feeds arbitrary bytes to both checks (go test -fuzz
// FuzzFastCheck explores beyond the seeds).
func FuzzFastCheck(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{`{"a":1,"a":2}`, `{"seats":1e2}`, `{"seats":-0}`, `{"seats":01}`, `"\ud800"`, "\"\xff\"", `[1,]`, `{"a" 1}`, `tru`, `-`, `1.`, `{"email":"a\u0040b.co"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		for _, e := range testEntriesOnce(t) {
			agree(t, e, doc)
		}
	})
}

var fuzzEntries []*entry

func testEntriesOnce(t *testing.T) []*entry {
	if fuzzEntries == nil {
		fuzzEntries = testEntries(t)
	}
	return fuzzEntries
}

func TestFastCheckSeedsAreDecided(t *testing.T) {
	e := testEntries(t)[0]
	for _, s := range seeds[:2] {
		if got := e.fast.check([]byte(s)); got != valid {
			t.Errorf("valid seed %s: verdict %d", s, got)
		}
	}
	deep := strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)
	if got := testEntries(t)[5].fast.check([]byte(deep)); got != unsure {
		t.Errorf("too deep: verdict %d, want unsure", got)
	}
}

func TestFastCompileRefusesUnknownKeywords(t *testing.T) {
	for _, doc := range []string{
		`{"uniqueItems":true}`, `{"$ref":"#/$defs/x"}`, `{"$ref":"http://x"}`, `{"$defs":{"a":{}},"$ref":"#/$defs/a","type":"object"}`,
		`{"type":"object","required":["x"]}`, `{"required":"x"}`, `{"properties":[]}`, `{"type":"nonsense"}`, `{"type":7}`,
		`{"minLength":-1}`, `{"minimum":1e3}`, `{"minimum":1234567890123456789}`, `{"multipleOf":0.5}`, `{"enum":[1.5]}`, `{"enum":[[1]]}`,
		`{"enum":"x"}`, `{"pattern":"("}`, `{"patternProperties":{}}`, `7`, `[]`,
	} {
		v, err := decodeJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := compileFast(v); ok {
			t.Errorf("%s compiled to a fast check %+v", doc, n)
		}
	}
}

// hasDuplicateKeys reports whether a JSON document repeats a key in an object.
func hasDuplicateKeys(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		keys   map[string]bool
		object bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{', '[':
				if top != nil && top.object {
					top.key = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: tok == '{', key: tok == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.key {
				if top.keys[tok] {
					return true
				}
				top.keys[tok] = true
				top.key = false
				continue
			}
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}
