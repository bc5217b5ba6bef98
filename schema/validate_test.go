package schema_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/schema"
)

type Line struct {
	SKU      string `json:"sku" jsonschema:"required,pattern=^[A-Z0-9-]+$"`
	Quantity int    `json:"quantity" jsonschema:"required,minimum=1"`
}

type Cart struct {
	Lines []Line         `json:"lines" jsonschema:"required,minItems=1"`
	Odd   string         `json:"a/b~c,omitempty" jsonschema:"maxLength=2"`
	Attrs map[string]int `json:"attrs,omitempty"`
	Ratio float64        `json:"ratio,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	Step  int            `json:"step,omitempty" jsonschema:"multipleOf=5"`
}

func TestValidate(t *testing.T) {
	r := newRegistry(t)
	schema.MustRegister[Cart](r, "Cart", 1)
	tests := []struct {
		name string
		doc  string
		want []string // nil: valid
	}{
		{"valid", `{"lines":[{"sku":"A-1","quantity":2}],"attrs":{"x":1},"ratio":0.5,"step":10}`, nil},
		{"valid with space and escapes", " {\"lines\" : [ {\"sku\":\"A\\u002D1\",\"quantity\":2.0} ] }\n", nil},
		{"missing properties", `{}`, []string{"/lines required"}},
		{"missing nested", `{"lines":[{"sku":"A"},{}]}`, []string{"/lines/0/quantity required", "/lines/1/quantity required", "/lines/1/sku required"}},
		{"unknown properties", `{"lines":[{"sku":"A","quantity":1,"x":1,"y":2}],"z":0}`, []string{"/lines/0/x additionalProperties", "/lines/0/y additionalProperties", "/z additionalProperties"}},
		{"array item rules", `{"lines":[{"sku":"ok","quantity":0},{"sku":"OK","quantity":3}]}`, []string{"/lines/0/quantity minimum", "/lines/0/sku pattern"}},
		{"min items", `{"lines":[]}`, []string{"/lines minItems"}},
		{"escaped pointer", `{"lines":[{"sku":"A","quantity":1}],"a/b~c":"long"}`, []string{"/a~1b~0c maxLength"}},
		{"map values", `{"lines":[{"sku":"A","quantity":1}],"attrs":{"x":"one"}}`, []string{"/attrs/x type"}},
		{"exclusive bounds", `{"lines":[{"sku":"A","quantity":1}],"ratio":1}`, []string{"/ratio exclusiveMaximum"}},
		{"multiple of", `{"lines":[{"sku":"A","quantity":1}],"step":7}`, []string{"/step multipleOf"}},
		{"wrong type", `{"lines":{"sku":"A"}}`, []string{"/lines type"}},
		{"not an object", `[1,2]`, []string{" type"}},
		{"fraction for integer", `{"lines":[{"sku":"A","quantity":1.5}]}`, []string{"/lines/0/quantity type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.Validate("Cart", 1, []byte(tt.doc))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate = %v, want valid", err)
				}
				return
			}
			equalStrings(t, "violations", violations(t, err), tt.want)
		})
	}
}

func TestValidateRejects(t *testing.T) {
	r := newRegistry(t)
	// Trailing data after the value is malformed, closing brackets included
	// (json.Decoder.More reports false before them).
	for _, doc := range []string{``, `{`, `{"customerId":"c"} {}`, `nul`, `{"customerId":"c"}]`, `{"customerId":"c"}}`, `{"customerId":"c"} x`} {
		err := r.Validate("CustomerRegistered", 1, []byte(doc))
		if !errors.Is(err, schema.ErrMalformed) || !strings.Contains(err.Error(), "not valid JSON") {
			t.Errorf("Validate(%q) = %v, want ErrMalformed", doc, err)
		}
	}
	if err := r.Validate("Nope", 1, []byte(`{}`)); !errors.Is(err, schema.ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	if err := r.Validate("CustomerRegistered", 3, []byte(`{}`)); !errors.Is(err, schema.ErrUnknownVersion) {
		t.Errorf("unknown version: %v", err)
	}
}

func TestViolationString(t *testing.T) {
	v := schema.Violation{Keyword: "type", Message: "expected object, but got array"}
	if got := v.String(); got != "(root): type: expected object, but got array" {
		t.Errorf("String() = %q", got)
	}
}

func TestValidateSchemaOnlyKeywords(t *testing.T) {
	// A hand-written schema with keywords generated schemas do not use is
	// still validated in full.
	r := schema.MustNewRegistry()
	doc := `{"type":"object","properties":{"kind":{"const":"x"},"n":{"anyOf":[{"type":"integer"},{"type":"null"}]},
		"s":{"type":"array","uniqueItems":true},"f":false},"patternProperties":{"^x-":{"type":"string"}},"additionalProperties":false}`
	if err := r.AddSchema("Hand", 1, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate("Hand", 1, []byte(`{"kind":"x","n":null,"s":[1,2],"x-a":"ok"}`)); err != nil {
		t.Errorf("valid: %v", err)
	}
	err := r.Validate("Hand", 1, []byte(`{"kind":"y","n":"s","s":[1,1],"f":1,"x-a":2,"other":true}`))
	equalStrings(t, "violations", violations(t, err), []string{
		"/f false", "/kind const", "/n type", "/n type", "/other additionalProperties", "/s uniqueItems", "/x-a type",
	})
}

// A schema with both const and enum needs a value that satisfies both: they
// are an intersection, not a union (the removed fast path accepted "a").
func TestValidateConstAndEnum(t *testing.T) {
	r := schema.MustNewRegistry()
	doc := `{"type":"object","properties":{"k":{"const":"a","enum":["b"]},"m":{"const":"a","enum":["a","b"]}}}`
	if err := r.AddSchema("Both", 1, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		doc  string
		want []string
	}{
		{`{"k":"a"}`, []string{"/k enum"}},
		{`{"k":"b"}`, []string{"/k const"}},
		{`{"m":"b"}`, []string{"/m const"}},
		{`{"m":"a"}`, nil},
	}
	for _, tt := range tests {
		err := r.Validate("Both", 1, []byte(tt.doc))
		if tt.want == nil {
			if err != nil {
				t.Errorf("Validate(%s) = %v, want valid", tt.doc, err)
			}
			continue
		}
		equalStrings(t, tt.doc, violations(t, err), tt.want)
	}
}
