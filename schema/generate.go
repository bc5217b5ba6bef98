package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"

	invopop "github.com/invopop/jsonschema"
	"github.com/santhosh-tekuri/jsonschema/v5"
)

// generate returns the canonical JSON Schema of the struct type t.
//
// The reflector is configured so that the schema depends only on the wire
// shape of the type: it is anonymous (no $id derived from the Go package
// path), the root struct is inlined, a property is required only when its
// jsonschema tag says "required", and objects admit no unknown properties.
// Nested named types appear under $defs by their Go type name.
func generate(t reflect.Type, name, description string) (raw []byte, err error) {
	defer func() {
		if p := recover(); p != nil { // the reflector panics on some bad tags
			err = fmt.Errorf("%v", p)
		}
	}()
	ref := invopop.Reflector{
		Anonymous:                  true,
		ExpandedStruct:             true,
		RequiredFromJSONSchemaTags: true,
	}
	s := ref.ReflectFromType(t)
	if s.Title == "" {
		s.Title = name
	}
	if description != "" {
		s.Description = description
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	return canonical(b)
}

// canonical re-encodes a JSON Schema document deterministically: object keys
// sorted, no insignificant space, no HTML escaping, numbers as written, and
// every "required" list sorted (it is a set). Two schemas are the same exactly
// when their canonical forms are equal.
func canonical(doc []byte) ([]byte, error) {
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, err
	}
	sortRequired(v)
	return marshalCanonical(v)
}

func sortRequired(v any) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if list, ok := x.([]any); ok && k == "required" && allStrings(list) {
				slices.SortFunc(list, func(a, b any) int {
					return strings.Compare(a.(string), b.(string))
				})
				continue
			}
			sortRequired(x)
		}
	case []any:
		for _, x := range v {
			sortRequired(x)
		}
	}
}

func allStrings(list []any) bool {
	for _, x := range list {
		if _, ok := x.(string); !ok {
			return false
		}
	}
	return true
}

func marshalCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// decodeJSON decodes one JSON document into any, keeping numbers as
// json.Number, and rejects trailing data.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	// More reports false before a closing bracket, so `{"a":1}]` would
	// pass it: ask for the next token instead, which must be the end.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON value at offset %d", dec.InputOffset())
	}
	return v, nil
}

// compile compiles a canonical schema of (name, version).
func compile(name string, version int, raw []byte) (*entry, error) {
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	loc := resourceURL(name, version)
	if err := c.AddResource(loc, bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	s, err := c.Compile(loc)
	if err != nil {
		return nil, err
	}
	return &entry{name: name, version: version, raw: raw, doc: doc, compiled: s}, nil
}

// resourceURL names a schema inside the compiler; it never leaves it.
func resourceURL(name string, version int) string {
	return "chronicle:///" + url.PathEscape(name) + "/v" + strconv.Itoa(version) + ".schema.json"
}
