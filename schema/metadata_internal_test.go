package schema

import (
	"reflect"
	"testing"
)

// The one-pass metadata parser must decode exactly as encoding/json does.
func TestMetadataParseAgreesWithEncodingJSON(t *testing.T) {
	docs := []string{
		`{}`, ` { } `, `{"schemaVersion":"3","$correlationId":"c","$causationId":"k","traceparent":"tp","tracestate":"ts","$traceId":"t","$spanId":"s","decidedAt":"2025-01-02T03:04:05.5Z"}`,
		"{\n  \"$correlationId\" : \"a\\\"b\\u00e9\\n\",\n  \"x\": {\"deep\": [1, 2.5e3, null, true, \"s\"]},\n  \"y\": -0.5\n}",
		`{"x":1,"x":2}`, `{"$correlationId":"a","$correlationId":"b"}`, `{"tenant":"acme","n":null}`,
		`{"schemaVersion":2}`, `{"schemaVersion":"0"}`, `{"schemaVersion":"x"}`, `{"decidedAt":"never"}`, `{"$spanId":null}`,
		`[]`, `"s"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{"a":1]`, `{"a" 1}`, `{1:2}`, "{\"\xff\":\"v\"}", "{\"k\":\"\xff\"}",
		`{"$causationId":"\ud800"}`, `{"k":[` + string(make([]byte, 0)) + `]}`, `nul`, ` `, `{"a":1 "b":2}`,
	}
	deep := `{"k":` + repeat("[", 600) + repeat("]", 600) + `}`
	docs = append(docs, deep)
	for _, doc := range docs {
		var fast, slow Metadata
		errFast := fast.UnmarshalJSON([]byte(doc))
		errSlow := slow.parseSlow([]byte(doc))
		if (errFast == nil) != (errSlow == nil) {
			t.Errorf("%q: errors differ: %v vs %v", doc, errFast, errSlow)
			continue
		}
		if errFast == nil && !reflect.DeepEqual(fast, slow) {
			t.Errorf("%q: decoded\n %+v\nvs encoding/json\n %+v", doc, fast, slow)
		}
	}
}

func repeat(s string, n int) string {
	out := make([]byte, 0, len(s)*n)
	for range n {
		out = append(out, s...)
	}
	return string(out)
}
