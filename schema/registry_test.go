package schema_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/schema"
)

type reordered struct { // CustomerRegistered's fields in another order
	Tags       []string `json:"tags,omitempty" jsonschema:"maxItems=3"`
	Address    *Address `json:"address,omitempty"`
	Seats      int      `json:"seats,omitempty" jsonschema:"minimum=1,maximum=500"`
	Plan       string   `json:"plan" jsonschema:"required,enum=free,enum=pro"`
	Email      string   `json:"email" jsonschema:"required,format=email"`
	CustomerID string   `json:"customerId" jsonschema:"required,minLength=1,maxLength=16"`
}

type badPattern struct {
	Code string `json:"code" jsonschema:"pattern=["`
}

type other struct {
	A string `json:"a"`
}

func TestRegisterRejectsBadInput(t *testing.T) {
	tests := []struct {
		name     string
		register func(r *schema.Registry) error
		want     string
	}{
		{"empty name", func(r *schema.Registry) error { return schema.Register[other](r, "", 1) }, "is empty"},
		{"reserved name", func(r *schema.Registry) error { return schema.Register[other](r, "$stats", 1) }, "reserved"},
		{"spaces", func(r *schema.Registry) error { return schema.Register[other](r, " Other", 1) }, "spaces"},
		{"slash", func(r *schema.Registry) error { return schema.Register[other](r, "a/b", 1) }, "slash"},
		{"backslash", func(r *schema.Registry) error { return schema.Register[other](r, `a\b`, 1) }, "slash"},
		{"control", func(r *schema.Registry) error { return schema.Register[other](r, "a\tb", 1) }, "control"},
		{"bad UTF-8", func(r *schema.Registry) error { return schema.Register[other](r, "a\xffb", 1) }, "UTF-8"},
		{"version 0", func(r *schema.Registry) error { return schema.Register[other](r, "Other", 0) }, "not ≥ 1"},
		{"not a struct", func(r *schema.Registry) error { return schema.Register[string](r, "Other", 1) }, "not a struct"},
		{"pointer type", func(r *schema.Registry) error { return schema.Register[*other](r, "Other", 1) }, "not a struct"},
		{"bad pattern", func(r *schema.Registry) error { return schema.Register[badPattern](r, "Bad", 1) }, "compile schema"},
		{"upcaster for v1", func(r *schema.Registry) error {
			return schema.Register[other](r, "Other", 1, schema.UpcastFrom(schema.Identity))
		}, "needs a version ≥ 2"},
		{"same version twice", func(r *schema.Registry) error {
			return schema.Register[OrderPlacedV1](r, "CustomerRegistered", 1)
		}, "already registered with Go type"},
		{"same Go type twice", func(r *schema.Registry) error {
			return schema.Register[CustomerRegistered](r, "Customer", 1)
		}, "already registered as"},
		{"upcaster twice", func(r *schema.Registry) error {
			if err := r.RegisterUpcaster("Order", 1, schema.Identity); err != nil {
				return err
			}
			return schema.Register[OrderPlacedV2](r, "Order", 2, schema.UpcastFrom(schema.Identity))
		}, "already registered"},
		{"upcaster: bad name", func(r *schema.Registry) error { return r.RegisterUpcaster("", 1, schema.Identity) }, "is empty"},
		{"upcaster: version 0", func(r *schema.Registry) error { return r.RegisterUpcaster("Order", 0, schema.Identity) }, "not ≥ 1"},
		{"upcaster: nil", func(r *schema.Registry) error { return r.RegisterUpcaster("Order", 1, nil) }, "nil upcaster"},
		{"upcaster: duplicate", func(r *schema.Registry) error {
			_ = r.RegisterUpcaster("Order", 1, schema.Identity)
			return r.RegisterUpcaster("Order", 1, schema.Identity)
		}, "already registered"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRegistry(t)
			before := r.Schemas()
			err := tt.register(r)
			if !errors.Is(err, schema.ErrInvalidRegistration) {
				t.Fatalf("err = %v, want ErrInvalidRegistration", err)
			}
			if !strings.HasPrefix(err.Error(), "schema: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to mention %q", err, tt.want)
			}
			if got := r.Schemas(); len(got) != len(before) {
				t.Errorf("failed registration changed the registry: %d schemas, want %d", len(got), len(before))
			}
		})
	}
}

func TestMustRegisterPanics(t *testing.T) {
	defer func() {
		if p := recover(); p == nil {
			t.Fatal("MustRegister with version 0 did not panic")
		}
	}()
	schema.MustRegister[other](schema.MustNewRegistry(), "Other", 0)
}

func TestTypeOfAndCurrent(t *testing.T) {
	r := newRegistry(t)
	schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
	schema.MustRegister[OrderPlacedV3](r, "OrderPlaced", 3)
	for _, ev := range []any{OrderPlacedV3{}, &OrderPlacedV3{}} {
		if name, v, ok := r.TypeOf(ev); name != "OrderPlaced" || v != 3 || !ok {
			t.Errorf("TypeOf(%T) = %q, %d, %v", ev, name, v, ok)
		}
	}
	for _, ev := range []any{nil, other{}, 42} {
		if name, v, ok := r.TypeOf(ev); name != "" || v != 0 || ok {
			t.Errorf("TypeOf(%T) = %q, %d, %v, want not found", ev, name, v, ok)
		}
	}
	if v, ok := r.Current("OrderPlaced"); v != 3 || !ok {
		t.Errorf("Current(OrderPlaced) = %d, %v, want 3", v, ok)
	}
	if v, ok := r.Current("Nope"); v != 0 || ok {
		t.Errorf("Current(Nope) = %d, %v", v, ok)
	}
}

func TestSchemasAreSortedAndComplete(t *testing.T) {
	r := newRegistry(t)
	schema.MustRegister[OrderPlacedV2](r, "OrderPlaced", 2)
	schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
	var got []string
	for _, info := range r.Schemas() {
		got = append(got, info.Type+" "+info.GoType.Name())
		if !json.Valid(info.Schema) {
			t.Errorf("%s v%d: schema is not JSON", info.Type, info.Version)
		}
	}
	equalStrings(t, "Schemas", got, []string{"CustomerRegistered CustomerRegistered", "OrderPlaced OrderPlacedV1", "OrderPlaced OrderPlacedV2"})
}

func TestSchemaIsCanonicalAndDeterministic(t *testing.T) {
	a, err := newRegistry(t).Schema("CustomerRegistered", 1)
	if err != nil {
		t.Fatal(err)
	}
	b := schema.MustNewRegistry()
	schema.MustRegister[reordered](b, "CustomerRegistered", 1)
	c, _ := b.Schema("CustomerRegistered", 1)
	if string(a) != string(c) {
		t.Errorf("field order changed the schema:\n%s\n%s", a, c)
	}
	// The schema depends on the JSON shape and tags only: no Go package path,
	// keys sorted, "required" sorted.
	const want = `{"$defs":{"Address":{"additionalProperties":false,"properties":{"street":{"minLength":1,"type":"string"},"zip":{"pattern":"^[0-9]{5}$","type":"string"}},"required":["street","zip"],"type":"object"}},` +
		`"$schema":"https://json-schema.org/draft/2020-12/schema","additionalProperties":false,"properties":{"address":{"$ref":"#/$defs/Address"},` +
		`"customerId":{"maxLength":16,"minLength":1,"type":"string"},"email":{"format":"email","type":"string"},"plan":{"enum":["free","pro"],"type":"string"},` +
		`"seats":{"maximum":500,"minimum":1,"type":"integer"},"tags":{"items":{"type":"string"},"maxItems":3,"type":"array"}},` +
		`"required":["customerId","email","plan"],"title":"CustomerRegistered","type":"object"}`
	if string(a) != want {
		t.Errorf("schema:\n got %s\nwant %s", a, want)
	}
}

func TestRegisterWithDescription(t *testing.T) {
	r := schema.MustNewRegistry()
	schema.MustRegister[other](r, "Other", 1, schema.WithDescription("An <other> event & more"))
	s, _ := r.Schema("Other", 1)
	if !strings.Contains(string(s), `"description":"An <other> event & more"`) {
		t.Errorf("schema %s lacks the description", s)
	}
}

func TestSchemaUnknown(t *testing.T) {
	r := newRegistry(t)
	_, err := r.Schema("Nope", 1)
	var ut *schema.UnknownTypeError
	if !errors.As(err, &ut) || ut.Type != "Nope" || !errors.Is(err, schema.ErrUnknownType) || errors.Is(err, schema.ErrSkipped) {
		t.Errorf("Schema(Nope) error = %v", err)
	}
	_, err = r.Schema("CustomerRegistered", 2)
	var uv *schema.UnknownVersionError
	if !errors.As(err, &uv) || uv.Version != 2 || uv.Current != 1 || !errors.Is(err, schema.ErrUnknownVersion) {
		t.Errorf("Schema(CustomerRegistered, 2) error = %v", err)
	}
}

func TestAddSchema(t *testing.T) {
	r := newRegistry(t)
	raw := []byte(`{"type":"object","properties":{"n":{"type":"integer","minimum":1}},"required":["n"]}`)
	if err := r.AddSchema("Counted", 1, raw); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate("Counted", 1, []byte(`{"n":2}`)); err != nil {
		t.Errorf("valid document: %v", err)
	}
	equalStrings(t, "violations", violations(t, r.Validate("Counted", 1, []byte(`{"n":0}`))), []string{"/n minimum"})
	if _, ok := r.Current("Counted"); ok {
		t.Error("a schema without Go type became a current version")
	}
	infos := r.Schemas() // Counted sorts before CustomerRegistered
	if infos[0].Type != "Counted" || infos[0].GoType != nil {
		t.Errorf("Schemas()[0] = %s v%d %v", infos[0].Type, infos[0].Version, infos[0].GoType)
	}
	// Registering a Go type for the same (type, version) replaces it.
	type counted struct {
		N int `json:"n" jsonschema:"required,minimum=1"`
	}
	if err := schema.Register[counted](r, "Counted", 1); err != nil {
		t.Fatalf("Register over AddSchema: %v", err)
	}
	if info := r.Schemas()[0]; info.GoType != reflect.TypeFor[counted]() {
		t.Errorf("GoType = %v", info.GoType)
	}

	for name, add := range map[string]func() error{
		"bad name":      func() error { return r.AddSchema("", 1, raw) },
		"version 0":     func() error { return r.AddSchema("X", 0, raw) },
		"not JSON":      func() error { return r.AddSchema("X", 1, []byte(`{`)) },
		"not a schema":  func() error { return r.AddSchema("X", 1, []byte(`{"type":"nonsense"}`)) },
		"already there": func() error { return r.AddSchema("CustomerRegistered", 1, raw) },
	} {
		if err := add(); !errors.Is(err, schema.ErrInvalidRegistration) {
			t.Errorf("%s: err = %v, want ErrInvalidRegistration", name, err)
		}
	}
}

func TestUnknownPolicyString(t *testing.T) {
	if schema.Fail.String() != "fail" || schema.Skip.String() != "skip" {
		t.Errorf("policies print as %s, %s", schema.Fail, schema.Skip)
	}
}

func TestRegistryIsSafeForConcurrentUse(t *testing.T) {
	r := newRegistry(t)
	raw := []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`)
	done := make(chan error, 32)
	for g := range 16 {
		go func() {
			name := fmt.Sprintf("Loaded%d", g)
			err := r.AddSchema(name, 1, raw)
			if err == nil {
				err = r.RegisterUpcaster(name, 1, schema.Identity)
			}
			if err == nil {
				err = r.Validate(name, 1, []byte(`{"n":1}`))
			}
			done <- err
		}()
		go func() {
			for range 20 {
				if _, err := r.Encode(context.Background(), goodCus); err != nil {
					done <- err
					return
				}
				r.Schemas()
				r.TypeOf(goodCus)
			}
			done <- nil
		}()
	}
	for range 32 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if n := len(r.Schemas()); n != 17 {
		t.Errorf("%d schemas, want 17", n)
	}
}

func TestCheckUpcasterChains(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *schema.Registry)
		want  string // "" means complete
	}{
		{"one version", func(r *schema.Registry) { schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1) }, ""},
		{"current only, older versions unknown", func(r *schema.Registry) { schema.MustRegister[OrderPlacedV3](r, "OrderPlaced", 3) }, ""},
		{"complete", func(r *schema.Registry) {
			schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
			schema.MustRegister[OrderPlacedV2](r, "OrderPlaced", 2, schema.UpcastFrom(schema.Identity))
			schema.MustRegister[OrderPlacedV3](r, "OrderPlaced", 3, schema.UpcastFrom(schema.Identity))
		}, ""},
		{"old type without upcaster", func(r *schema.Registry) {
			schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
			schema.MustRegister[OrderPlacedV3](r, "OrderPlaced", 3, schema.UpcastFrom(schema.Identity))
		}, `"OrderPlaced" v1→v2`},
		{"chain that stops short", func(r *schema.Registry) {
			_ = r.RegisterUpcaster("OrderPlaced", 1, schema.Identity)
			schema.MustRegister[OrderPlacedV3](r, "OrderPlaced", 3)
		}, `"OrderPlaced" v2→v3`},
		{"every gap, every type", func(r *schema.Registry) {
			schema.MustRegister[OrderPlacedV1](r, "OrderPlaced", 1)
			schema.MustRegister[OrderPlacedV3](r, "OrderPlaced", 3)
			schema.MustRegister[CustomerRegistered](r, "CustomerRegistered", 2)
			schema.MustRegister[other](r, "CustomerRegistered", 1)
		}, `"CustomerRegistered" v1→v2, "OrderPlaced" v1→v2, "OrderPlaced" v2→v3`},
		{"upcasters only", func(r *schema.Registry) { _ = r.RegisterUpcaster("Ghost", 1, schema.Identity) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := schema.MustNewRegistry()
			tt.setup(r)
			err := r.Check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, schema.ErrInvalidRegistration) || !strings.HasSuffix(err.Error(), "no upcaster for "+tt.want) {
				t.Fatalf("Check = %v, want ErrInvalidRegistration ending in %q", err, tt.want)
			}
		})
	}
}

func TestNewRegistryRejectsBadOptions(t *testing.T) {
	for name, opt := range map[string]schema.Option{
		"nil option":      nil,
		"nil clock":       schema.WithClock(nil),
		"nil IDs":         schema.WithIDs(nil),
		"unknown policy":  schema.WithUnknown(9),
		"reserved stream": schema.WithSchemaStream("$schemas"),
		"empty stream":    schema.WithSchemaStream(""),
	} {
		r, err := schema.NewRegistry(opt)
		if !errors.Is(err, schema.ErrInvalidOption) || r != nil || !strings.HasPrefix(err.Error(), "schema: ") {
			t.Errorf("%s: NewRegistry = %v, %v; want ErrInvalidOption", name, r, err)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("MustNewRegistry with a bad option did not panic")
		}
	}()
	schema.MustNewRegistry(schema.WithIDs(nil))
}

func TestRegisterRejectsBadOptions(t *testing.T) {
	r := schema.MustNewRegistry()
	for name, opt := range map[string]schema.RegisterOption{"nil option": nil, "nil upcaster": schema.UpcastFrom(nil)} {
		if err := schema.Register[OrderPlacedV2](r, "OrderPlaced", 2, opt); !errors.Is(err, schema.ErrInvalidRegistration) {
			t.Errorf("%s: Register = %v, want ErrInvalidRegistration", name, err)
		}
	}
}
