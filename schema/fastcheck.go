package schema

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

// The fast check decides, in one pass over the JSON bytes and without
// allocating, whether a document is valid against the subset of JSON Schema
// that generated schemas use. It is an accelerator, not a validator of its
// own: it answers valid, invalid or unsure, and only "valid" is trusted.
// Invalid and unsure documents go through the full validator
// (santhosh-tekuri/jsonschema), which also produces the violations. A schema
// that uses a keyword the fast check does not know gets no fast check at all.

type verdict uint8

const (
	valid verdict = iota
	invalid
	unsure
)

// kinds of JSON value, as a bit set; 0 in fastNode.types means any.
type kinds uint8

const (
	kindNull kinds = 1 << iota
	kindBoolean
	kindObject
	kindArray
	kindNumber
	kindInteger // a number without fraction or exponent (others are unsure)
	kindString
)

var kindNames = map[string]kinds{
	"null": kindNull, "boolean": kindBoolean, "object": kindObject, "array": kindArray,
	"number": kindNumber, "integer": kindInteger, "string": kindString,
}

// maxSafeDigits is how many significant decimal digits a number may have for
// float64 comparisons to agree with exact rational ones.
const maxSafeDigits = 15

// maxDepth bounds nesting; deeper documents are left to the full validator.
const maxDepth = 512

type bound struct {
	set bool
	v   float64
}

// fastNode is a compiled schema. The zero value accepts anything.
type fastNode struct {
	never bool // the false schema
	ref   *fastNode
	types kinds

	props     map[string]int // property name → index into propNodes
	propNodes []*fastNode
	required  []int
	noExtra   bool      // additionalProperties: false
	extra     *fastNode // additionalProperties schema; nil means any
	minProps  int       // -1: none
	maxProps  int

	items              *fastNode
	minItems, maxItems int

	minLen, maxLen int
	pattern        *regexp.Regexp
	format         func(any) bool
	quickFormat    func([]byte) bool // a sufficient condition for format, or nil

	minimum, maximum, exclMin, exclMax bound
	multipleOf                         int64

	hasEnum   bool
	enumStr   map[string]struct{}
	enumInt   map[int64]struct{}
	enumBool  [2]bool
	enumNull  bool
	hasString bool // any string rule
	hasNumber bool // any numeric rule
}

var anything = &fastNode{minProps: -1, maxProps: -1, minItems: -1, maxItems: -1, minLen: -1, maxLen: -1}

// compileFast compiles a canonical schema document; ok is false when it uses
// something the fast check does not implement.
func compileFast(doc any) (n *fastNode, ok bool) {
	root, isObj := doc.(map[string]any)
	if !isObj {
		return nil, false
	}
	c := &fastCompiler{root: root, defs: make(map[string]*fastNode), ok: true}
	n = c.compile(doc)
	return n, c.ok
}

type fastCompiler struct {
	root map[string]any
	defs map[string]*fastNode
	ok   bool
}

func (c *fastCompiler) fail() { c.ok = false }

func (c *fastCompiler) compile(v any) *fastNode {
	n := &fastNode{}
	*n = *anything
	c.fill(n, v)
	return n
}

// fill compiles the schema v into n.
func (c *fastCompiler) fill(n *fastNode, v any) {
	switch v := v.(type) {
	case bool:
		n.never = !v
		return
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			c.fillRef(n, ref, v)
			return
		}
		for k, x := range v {
			if k != "required" {
				c.keyword(n, k, x)
			}
		}
		if req, ok := v["required"]; ok {
			c.required(n, req)
		}
	default:
		c.fail()
	}
}

func (c *fastCompiler) fillRef(n *fastNode, ref string, v map[string]any) {
	for k := range v {
		if k != "$ref" && !annotation(k) {
			c.fail() // $ref beside other rules: not generated, not handled
			return
		}
	}
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	defs, _ := c.root["$defs"].(map[string]any)
	body, found := defs[unescape(name)]
	if !ok || !found {
		c.fail()
		return
	}
	if def, ok := c.defs[name]; ok {
		n.ref = def
		return
	}
	def := &fastNode{}
	*def = *anything
	c.defs[name] = def
	n.ref = def
	c.fill(def, body)
}

func annotation(k string) bool {
	switch k {
	case "$schema", "$comment", "$defs", "title", "description", "examples", "default",
		"deprecated", "readOnly", "writeOnly":
		return true
	}
	return false
}

func (c *fastCompiler) keyword(n *fastNode, k string, x any) {
	if annotation(k) {
		return
	}
	switch k {
	case "type":
		switch t := x.(type) {
		case string:
			n.types |= kindNames[t]
		case []any:
			for _, e := range t {
				s, _ := e.(string)
				n.types |= kindNames[s]
			}
		}
		if n.types == 0 {
			c.fail()
		}
	case "properties":
		props, ok := x.(map[string]any)
		if !ok {
			c.fail()
			return
		}
		n.props = make(map[string]int, len(props))
		for name, p := range props {
			n.props[name] = len(n.propNodes)
			n.propNodes = append(n.propNodes, c.compile(p))
		}
	case "additionalProperties":
		if b, ok := x.(bool); ok {
			n.noExtra = !b
			return
		}
		n.extra = c.compile(x)
	case "items":
		n.items = c.compile(x)
	case "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties":
		i, ok := intOf(x)
		if !ok {
			c.fail()
			return
		}
		switch k {
		case "minItems":
			n.minItems = i
		case "maxItems":
			n.maxItems = i
		case "minLength":
			n.minLen, n.hasString = i, true
		case "maxLength":
			n.maxLen, n.hasString = i, true
		case "minProperties":
			n.minProps = i
		case "maxProperties":
			n.maxProps = i
		}
	case "pattern":
		s, _ := x.(string)
		re, err := regexp.Compile(s)
		if err != nil {
			c.fail()
			return
		}
		n.pattern, n.hasString = re, true
	case "format":
		s, _ := x.(string)
		if f, ok := jsonschema.Formats[s]; ok {
			n.format, n.hasString = f, true
			n.quickFormat = quickFormats[s]
		} // unknown formats are not asserted by the full validator either
	case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
		num, _ := x.(json.Number)
		f, ok := safeFloat(string(num))
		if !ok {
			c.fail()
			return
		}
		b := bound{set: true, v: f}
		switch k {
		case "minimum":
			n.minimum = b
		case "maximum":
			n.maximum = b
		case "exclusiveMinimum":
			n.exclMin = b
		case "exclusiveMaximum":
			n.exclMax = b
		}
		n.hasNumber = true
	case "multipleOf":
		num, _ := x.(json.Number)
		i, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || i <= 0 {
			c.fail()
			return
		}
		n.multipleOf, n.hasNumber = i, true
	case "enum":
		list, ok := x.([]any)
		if !ok {
			c.fail()
			return
		}
		for _, e := range list {
			c.enumValue(n, e)
		}
	case "const":
		c.enumValue(n, x)
	default:
		c.fail()
	}
}

// required maps the "required" names to property indexes; a required name
// that is not a declared property is not handled.
func (c *fastCompiler) required(n *fastNode, req any) {
	list, ok := req.([]any)
	if !ok {
		c.fail()
		return
	}
	for _, e := range list {
		name, _ := e.(string)
		i, ok := n.props[name]
		if !ok {
			c.fail()
			return
		}
		n.required = append(n.required, i)
	}
}

func (c *fastCompiler) enumValue(n *fastNode, e any) {
	n.hasEnum = true
	switch e := e.(type) {
	case string:
		if n.enumStr == nil {
			n.enumStr = make(map[string]struct{})
		}
		n.enumStr[e] = struct{}{}
	case json.Number:
		i, err := strconv.ParseInt(string(e), 10, 64)
		if err != nil {
			c.fail()
			return
		}
		if n.enumInt == nil {
			n.enumInt = make(map[int64]struct{})
		}
		n.enumInt[i] = struct{}{}
	case bool:
		if e {
			n.enumBool[1] = true
		} else {
			n.enumBool[0] = true
		}
	case nil:
		n.enumNull = true
	default:
		c.fail()
	}
}

func intOf(x any) (int, bool) {
	num, _ := x.(json.Number)
	i, err := strconv.Atoi(string(num))
	return i, err == nil && i >= 0
}

// safeFloat parses a plain decimal (no exponent) of at most maxSafeDigits
// significant digits, for which float64 order equals decimal order.
func safeFloat(lit string) (float64, bool) {
	digits := 0
	leading := true
	for i := 0; i < len(lit); i++ {
		switch c := lit[i]; {
		case c >= '1' && c <= '9':
			leading = false
			digits++
		case c == '0':
			if !leading {
				digits++
			}
		case c == '-' && i == 0, c == '.':
		default:
			return 0, false
		}
	}
	if digits > maxSafeDigits {
		return 0, false
	}
	f, err := strconv.ParseFloat(lit, 64)
	return f, err == nil && !math.IsInf(f, 0)
}

// check runs the fast check on a whole document.
func (n *fastNode) check(data []byte) verdict {
	s := scanner{d: data}
	i, v := s.value(n, 0, 0)
	if v != valid {
		return v
	}
	if skipSpace(data, i) != len(data) {
		return unsure
	}
	return valid
}

type scanner struct{ d []byte }

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\t' || d[i] == '\r') {
		i++
	}
	return i
}

func (n *fastNode) allows(k kinds) bool { return n.types == 0 || n.types&k != 0 }

// value checks the value starting at or after d[i] against n and returns the
// index after it.
func (s *scanner) value(n *fastNode, i, depth int) (int, verdict) {
	d := s.d
	i = skipSpace(d, i)
	if i >= len(d) || depth > maxDepth {
		return i, unsure
	}
	if n == nil {
		n = anything
	}
	for n.ref != nil {
		n = n.ref
	}
	if n.never {
		return i, invalid
	}
	switch c := d[i]; {
	case c == '{' || c == '[':
		kind := kindObject
		if c == '[' {
			kind = kindArray
		}
		switch {
		case !n.allows(kind):
			return i, invalid
		case n.hasEnum:
			return i, unsure // enums of objects or arrays: not handled
		case kind == kindObject:
			return s.object(n, i+1, depth)
		}
		return s.array(n, i+1, depth)
	case c == '"':
		return s.string(n, i)
	case c == 't':
		return literal(d, i, "true", n.allows(kindBoolean) && (!n.hasEnum || n.enumBool[1]))
	case c == 'f':
		return literal(d, i, "false", n.allows(kindBoolean) && (!n.hasEnum || n.enumBool[0]))
	case c == 'n':
		return literal(d, i, "null", n.allows(kindNull) && (!n.hasEnum || n.enumNull))
	case c == '-' || c >= '0' && c <= '9':
		return s.number(n, i)
	}
	return i, unsure
}

func literal(d []byte, i int, word string, ok bool) (int, verdict) {
	if len(d)-i < len(word) || string(d[i:i+len(word)]) != word {
		return i, unsure
	}
	if !ok {
		return i, invalid
	}
	return i + len(word), valid
}

func (s *scanner) object(n *fastNode, i, depth int) (int, verdict) {
	d := s.d
	var seen uint64
	var seenMany []bool
	if len(n.propNodes) > 64 {
		seenMany = make([]bool, len(n.propNodes))
	}
	count := 0
	i = skipSpace(d, i)
	if i < len(d) && d[i] == '}' {
		return s.endObject(n, i+1, seen, seenMany, count)
	}
	for {
		i = skipSpace(d, i)
		if i >= len(d) || d[i] != '"' {
			return i, unsure
		}
		end, key, ok := s.str(i)
		if !ok {
			return i, unsure
		}
		i = skipSpace(d, end)
		if i >= len(d) || d[i] != ':' {
			return i, unsure
		}
		child := n.extra
		if idx, declared := n.props[string(key)]; declared {
			if seenMany != nil {
				if seenMany[idx] {
					return i, unsure // duplicate key: the last one wins in the full validator
				}
				seenMany[idx] = true
			} else {
				if seen&(1<<idx) != 0 {
					return i, unsure
				}
				seen |= 1 << idx
			}
			child = n.propNodes[idx]
		} else if n.noExtra {
			return i, invalid
		}
		var v verdict
		if i, v = s.value(child, i+1, depth+1); v != valid {
			return i, v
		}
		count++
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, unsure
		}
		if d[i] == '}' {
			return s.endObject(n, i+1, seen, seenMany, count)
		}
		if d[i] != ',' {
			return i, unsure
		}
		i++
	}
}

func (s *scanner) endObject(n *fastNode, i int, seen uint64, seenMany []bool, count int) (int, verdict) {
	for _, idx := range n.required {
		if seenMany != nil && !seenMany[idx] || seenMany == nil && seen&(1<<idx) == 0 {
			return i, invalid
		}
	}
	if n.minProps >= 0 && count < n.minProps || n.maxProps >= 0 && count > n.maxProps {
		// duplicate unknown keys would make count differ from the full
		// validator's; let it decide
		return i, unsure
	}
	return i, valid
}

func (s *scanner) array(n *fastNode, i, depth int) (int, verdict) {
	d := s.d
	count := 0
	i = skipSpace(d, i)
	if i < len(d) && d[i] == ']' {
		return s.endArray(n, i+1, count)
	}
	for {
		var v verdict
		if i, v = s.value(n.items, i, depth+1); v != valid {
			return i, v
		}
		count++
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, unsure
		}
		if d[i] == ']' {
			return s.endArray(n, i+1, count)
		}
		if d[i] != ',' {
			return i, unsure
		}
		i++
	}
}

func (s *scanner) endArray(n *fastNode, i, count int) (int, verdict) {
	if n.minItems >= 0 && count < n.minItems || n.maxItems >= 0 && count > n.maxItems {
		return i, invalid
	}
	return i, valid
}

// str scans the string starting at the quote d[i] and returns the index
// after it and its content, unescaped. ok is false for malformed strings and
// invalid UTF-8 (which a JSON decoder would replace).
func (s *scanner) str(i int) (end int, content []byte, ok bool) {
	d := s.d
	escaped, ascii := false, true
	for j := i + 1; j < len(d); j++ {
		switch c := d[j]; {
		case c == '"':
			raw := d[i+1 : j]
			if escaped {
				var u string
				if json.Unmarshal(d[i:j+1], &u) != nil {
					return j, nil, false
				}
				return j + 1, []byte(u), true
			}
			return j + 1, raw, ascii || utf8.Valid(raw)
		case c == '\\':
			escaped = true
			j++
		case c < 0x20:
			return j, nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return len(d), nil, false
}

func (s *scanner) string(n *fastNode, i int) (int, verdict) {
	if !n.allows(kindString) {
		return i, invalid
	}
	end, b, ok := s.str(i)
	if !ok {
		return end, unsure
	}
	if n.hasEnum {
		if _, in := n.enumStr[string(b)]; !in {
			return end, invalid
		}
	}
	if !n.hasString {
		return end, valid
	}
	if n.minLen >= 0 || n.maxLen >= 0 {
		l := utf8.RuneCount(b)
		if n.minLen >= 0 && l < n.minLen || n.maxLen >= 0 && l > n.maxLen {
			return end, invalid
		}
	}
	if n.pattern != nil && !n.pattern.Match(b) {
		return end, invalid
	}
	if n.format != nil && (n.quickFormat == nil || !n.quickFormat(b)) && !n.format(string(b)) {
		return end, invalid
	}
	return end, valid
}

func (s *scanner) number(n *fastNode, i int) (int, verdict) {
	d := s.d
	j := i
	if d[j] == '-' {
		j++
	}
	intStart := j
	for j < len(d) && d[j] >= '0' && d[j] <= '9' {
		j++
	}
	if j == intStart || d[intStart] == '0' && j-intStart > 1 {
		return j, unsure
	}
	whole := true
	if j < len(d) && d[j] == '.' {
		whole = false
		j++
		k := j
		for j < len(d) && d[j] >= '0' && d[j] <= '9' {
			j++
		}
		if j == k {
			return j, unsure
		}
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		return j, unsure // exponents: leave exact arithmetic to the full validator
	}
	lit := d[i:j]
	switch {
	case n.types == 0 || n.types&kindNumber != 0:
	case n.types&kindInteger != 0:
		if !whole {
			return j, unsure // 1.0 is an integer
		}
	default:
		return j, invalid
	}
	if !n.hasEnum && !n.hasNumber {
		return j, valid
	}
	if n.hasEnum {
		v, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil {
			return j, unsure
		}
		if _, in := n.enumInt[v]; !in {
			return j, invalid
		}
	}
	if n.multipleOf != 0 {
		v, err := strconv.ParseInt(string(lit), 10, 64)
		if err != nil {
			return j, unsure
		}
		if v%n.multipleOf != 0 {
			return j, invalid
		}
	}
	if n.minimum.set || n.maximum.set || n.exclMin.set || n.exclMax.set {
		f, ok := numberValue(lit, whole)
		if !ok {
			return j, unsure
		}
		if n.minimum.set && f < n.minimum.v || n.maximum.set && f > n.maximum.v ||
			n.exclMin.set && f <= n.exclMin.v || n.exclMax.set && f >= n.exclMax.v {
			return j, invalid
		}
	}
	return j, valid
}

// quickFormats hold sufficient conditions for formats whose full check is
// slow: when one returns true the full check would too; when it returns
// false the full check decides.
var quickFormats = map[string]func([]byte) bool{
	"email":     plainEmail,
	"uuid":      hexUUID,
	"date-time": plainDateTime,
}

// hexUUID reports whether b is 8-4-4-4-12 hex digits.
func hexUUID(b []byte) bool {
	if len(b) != 36 {
		return false
	}
	for i, c := range b {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// plainDateTime reports whether b is an RFC 3339 date-time without a leap
// second: yyyy-mm-ddThh:mm:ss[.frac](Z|±hh:mm).
func plainDateTime(b []byte) bool {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' && b[10] != 't' || b[13] != ':' || b[16] != ':' {
		return false
	}
	year, ok1 := decimal(b[0:4], 9999)
	month, ok2 := decimal(b[5:7], 12)
	day, ok3 := decimal(b[8:10], 31)
	_, ok4 := decimal(b[11:13], 23)
	_, ok5 := decimal(b[14:16], 59)
	_, ok6 := decimal(b[17:19], 59)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || day < 1 || day > daysIn(month, year) {
		return false
	}
	rest := b[19:]
	if rest[0] == '.' {
		i := 1
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 1 {
			return false
		}
		rest = rest[i:]
	}
	switch {
	case len(rest) == 1:
		return rest[0] == 'Z' || rest[0] == 'z'
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		_, okh := decimal(rest[1:3], 23)
		_, okm := decimal(rest[4:6], 59)
		return okh && okm
	}
	return false
}

// decimal parses the digits b, which must be at most hi.
func decimal(b []byte, hi int) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, v <= hi
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// plainEmail reports whether b is a plain address local@domain: a dot-atom
// local part of at most 64 characters and a host name of letter-digit-hyphen
// labels, at most 254 characters in all; RFC 5322 (and net/mail) accept
// every such address.
func plainEmail(b []byte) bool {
	at := -1
	for i, c := range b {
		if c == '@' {
			at = i
			break
		}
	}
	if at < 1 || at > 64 || len(b) > 254 {
		return false
	}
	return dotAtom(b[:at]) && plainHost(b[at+1:])
}

func dotAtom(b []byte) bool {
	prevDot := true // no leading dot
	for _, c := range b {
		if c == '.' {
			if prevDot {
				return false
			}
			prevDot = true
			continue
		}
		if !atext(c) {
			return false
		}
		prevDot = false
	}
	return !prevDot
}

// atext reports whether c may appear in an RFC 5322 atom.
func atext(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func plainHost(b []byte) bool {
	if len(b) == 0 || len(b) > 253 {
		return false
	}
	start := 0
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] != '.' {
			c := b[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		label := b[start:i]
		if len(label) < 1 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// numberValue returns the value of a number literal without exponent when
// float64 comparisons of it are exact (see safeFloat).
func numberValue(lit []byte, whole bool) (float64, bool) {
	if !whole || len(lit) > maxSafeDigits {
		return safeFloat(string(lit))
	}
	var v int64
	neg := lit[0] == '-'
	if neg {
		lit = lit[1:]
	}
	for _, c := range lit {
		v = v*10 + int64(c-'0')
	}
	if neg {
		v = -v
	}
	return float64(v), true
}
