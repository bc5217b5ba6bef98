package schema

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// validate validates JSON data against the entry's schema.
func (e *entry) validate(data []byte) error {
	v, err := decodeJSON(data)
	if err != nil {
		return fmt.Errorf("%w: %s v%d: data is not valid JSON: %v", ErrMalformed, e.name, e.version, err)
	}
	return e.validateValue(v)
}

// validateValue validates a decoded JSON value (numbers as json.Number).
func (e *entry) validateValue(v any) error {
	err := e.compiled.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("schema: validate %s v%d: %w", e.name, e.version, err)
	}
	out := &ValidationError{Type: e.name, Version: e.version}
	e.collect(ve, v, &out.Violations)
	slices.SortStableFunc(out.Violations, func(a, b Violation) int {
		return cmp.Or(strings.Compare(a.Pointer, b.Pointer), strings.Compare(a.Keyword, b.Keyword))
	})
	out.Violations = slices.Compact(out.Violations)
	return out
}

// collect appends a violation for every leaf of the validator's error tree.
// A missing-required or unknown-properties leaf becomes one violation per
// property, pointing at it.
func (e *entry) collect(ve *jsonschema.ValidationError, instance any, out *[]Violation) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			e.collect(c, instance, out)
		}
		return
	}
	_, frag, _ := strings.Cut(ve.AbsoluteKeywordLocation, "#")
	node, _ := resolve(e.doc, frag)
	keyword := lastSegment(frag)
	if _, isBool := node.(bool); isBool && ve.Message == "not allowed" {
		keyword = "false" // the false schema: nothing is allowed here
	}
	obj, _ := resolve(instance, ve.InstanceLocation)
	value, _ := obj.(map[string]any)
	switch keyword {
	case "required":
		names, _ := node.([]any)
		n := len(*out)
		for _, name := range names {
			if s, ok := name.(string); ok && value != nil {
				if _, present := value[s]; !present {
					*out = append(*out, Violation{Pointer: ve.InstanceLocation + "/" + escape(s), Keyword: keyword, Message: "missing required property"})
				}
			}
		}
		if len(*out) > n {
			return
		}
	case "additionalProperties":
		parent, _ := resolve(e.doc, parentPointer(frag))
		if extra, ok := unknownProperties(parent, value); ok {
			for _, name := range extra {
				*out = append(*out, Violation{Pointer: ve.InstanceLocation + "/" + escape(name), Keyword: keyword, Message: "property is not allowed"})
			}
			return
		}
	}
	*out = append(*out, Violation{Pointer: ve.InstanceLocation, Keyword: keyword, Message: ve.Message})
}

// unknownProperties returns the names of value's properties that the object
// schema parent neither lists nor matches by pattern, sorted.
func unknownProperties(parent any, value map[string]any) ([]string, bool) {
	schema, ok := parent.(map[string]any)
	if !ok || value == nil {
		return nil, false
	}
	props, _ := schema["properties"].(map[string]any)
	var patterns []*regexp.Regexp
	if pp, ok := schema["patternProperties"].(map[string]any); ok {
		for p := range pp {
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, false
			}
			patterns = append(patterns, re)
		}
	}
	var extra []string
	for name := range value {
		if _, listed := props[name]; listed {
			continue
		}
		if slices.ContainsFunc(patterns, func(re *regexp.Regexp) bool { return re.MatchString(name) }) {
			continue
		}
		extra = append(extra, name)
	}
	slices.Sort(extra)
	return extra, len(extra) > 0
}

// resolve returns the value at a JSON pointer in a decoded JSON document.
func resolve(doc any, pointer string) (any, bool) {
	if pointer == "" {
		return doc, true
	}
	if pointer[0] != '/' {
		return nil, false
	}
	cur := doc
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = unescape(tok)
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func lastSegment(pointer string) string {
	return unescape(pointer[strings.LastIndexByte(pointer, '/')+1:])
}

func parentPointer(pointer string) string {
	if i := strings.LastIndexByte(pointer, '/'); i >= 0 {
		return pointer[:i]
	}
	return ""
}

var (
	escaper   = strings.NewReplacer("~", "~0", "/", "~1")
	unescaper = strings.NewReplacer("~1", "/", "~0", "~")
)

// escape and unescape encode a JSON pointer reference token (RFC 6901).
func escape(token string) string   { return escaper.Replace(token) }
func unescape(token string) string { return unescaper.Replace(token) }
