package schema

import (
	"encoding/json"

	"github.com/chronicle-go/chronicle/eventstore"
)

// reservedKeys are the keys reserved reports, in a fixed order (bits of
// parseCompact's seen set).
var reservedKeys = [...]string{
	MetadataSchemaVersion, MetadataTraceParent, MetadataTraceState, MetadataDecidedAt,
	eventstore.MetadataCorrelationID, eventstore.MetadataCausationID,
	eventstore.MetadataTraceID, eventstore.MetadataSpanID,
}

// parseCompact decodes metadata in the compact form MarshalJSON writes, in
// one pass without encoding/json: an object of string values,
// {"key":"value",…}, with nothing between the tokens and every key and value
// made of printable ASCII other than '"' and '\' (so without escapes). It
// reports false, having set nothing, for any other input, which parse then
// decodes with encoding/json; and also when a reserved key appears twice
// (encoding/json keeps the last, parse handles it). Where it reports true,
// it gives encoding/json's result: FuzzMetadataCompact compares the two
// over arbitrary input.
func (m *Metadata) parseCompact(data []byte) (ok bool, err error) {
	if len(data) < 2 || data[0] != '{' || data[len(data)-1] != '}' {
		return false, nil
	}
	var md Metadata
	var seen uint8
	for rest := data[1 : len(data)-1]; len(rest) > 0; {
		key, after, ok := compactString(rest)
		if !ok || len(after) == 0 || after[0] != ':' {
			return false, nil
		}
		value, after, ok := compactString(after[1:])
		if !ok {
			return false, nil
		}
		if len(after) > 0 {
			if after[0] != ',' || len(after) == 1 {
				return false, nil
			}
			after = after[1:]
		}
		quoted := rest[len(key)+3 : len(rest)-len(after)]
		if len(after) > 0 {
			quoted = quoted[:len(quoted)-1] // the comma
		}
		rest = after
		i := reservedIndex(key)
		if i < 0 {
			md.setExtra(string(key), append(json.RawMessage(nil), quoted...))
			continue
		}
		if seen&(1<<i) != 0 {
			return false, nil
		}
		seen |= 1 << i
		if err == nil {
			err = md.set(reservedKeys[i], string(value))
		}
	}
	*m = md
	return true, err
}

// compactString splits a leading JSON string without escapes, of printable
// ASCII, off b: its contents and what follows it.
func compactString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return b[1:i], b[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, nil, false
		}
	}
	return nil, nil, false
}

// reservedIndex returns key's index in reservedKeys, or -1.
func reservedIndex(key []byte) int {
	for i, k := range reservedKeys {
		if string(key) == k {
			return i
		}
	}
	return -1
}
