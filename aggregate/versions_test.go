package aggregate_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/chronicle-go/chronicle/aggregate"
	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
	"github.com/chronicle-go/chronicle/testkit"
)

// legacyDeposit is version 1 of MoneyDeposited, in cents; Deposited is
// version 2.
type legacyDeposit struct {
	Cents int `json:"cents" jsonschema:"required,minimum=1"`
}

func TestLoadDecodesEveryStoredVersion(t *testing.T) {
	ctx := context.Background()
	reg := schema.MustNewRegistry()
	schema.MustRegister[Opened](reg, "AccountOpened", 1)
	schema.MustRegister[legacyDeposit](reg, "MoneyDeposited", 1)
	schema.MustRegister[Deposited](reg, "MoneyDeposited", 2, schema.UpcastFrom(func(data json.RawMessage) (json.RawMessage, error) {
		var v1 legacyDeposit
		if err := json.Unmarshal(data, &v1); err != nil {
			return nil, err
		}
		return json.Marshal(Deposited{Amount: v1.Cents / 100})
	}))
	store := memory.New()
	defer store.Close()
	repo := mustRepo(t, store, reg, accountType)

	appendRaw := func(typ, data, metadata string) {
		t.Helper()
		ev := eventstore.EventData{Type: typ, Data: []byte(data), Metadata: []byte(metadata)}
		if _, err := store.Append(ctx, "account-1", eventstore.Any, ev); err != nil {
			t.Fatal(err)
		}
	}
	appendRaw("AccountOpened", `{"owner":"ada"}`, ``)                                             // no metadata: v1
	appendRaw("MoneyDeposited", `{"cents":500}`, `{"schemaVersion":"1"}`)                         // upcast: 5
	appendRaw("MoneyDeposited", `{"amount":7}`, `{"$correlationId":"c","schemaVersion":"2"}`)     // 7
	appendRaw("MoneyDeposited", `{"amount":1}`, `{ "schemaVersion" : "2" }`)                      // another writer's spacing: 1
	appendRaw("MoneyDeposited", `{"cents":300}`, `{"note":"no schemaVersion here"}`)              // v1: 3
	appendRaw("MoneyDeposited", `{"amount":2}`, `{"schemaVersion":"2","decidedAt":"not a time"}`) // only the version matters to a load: 2

	a, err := repo.Load(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if a.State.Balance != 18 || a.State.Events != 6 {
		t.Errorf("Load = %+v, want balance 18 from 6 events", a.State)
	}

	for _, tt := range []struct {
		metadata string
		want     error
	}{
		{`{"schemaVersion":"two"}`, schema.ErrMalformed},
		{`{"schemaVersion":"12345678901"}`, schema.ErrUnknownVersion},
		{`{"schemaVersion":""}`, schema.ErrMalformed},
		{`{"schemaVersion":"3"}`, schema.ErrUnknownVersion},
		{`{"schemaVersion":"0"}`, schema.ErrMalformed},
	} {
		s := memory.New()
		repo := mustRepo(t, s, reg, accountType)
		if _, err := s.Append(ctx, "account-1", eventstore.Any, eventstore.EventData{Type: "MoneyDeposited", Data: []byte(`{"amount":1}`), Metadata: []byte(tt.metadata)}); err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Load(ctx, "1"); !errors.Is(err, tt.want) {
			t.Errorf("metadata %s: Load = %v, want %v", tt.metadata, err, tt.want)
		}
		s.Close()
	}
}

// A decision that returns an older version whose data cannot reach the
// current version must not append it: the stream could never load again.
func TestUnreadableEventsAppendNothing(t *testing.T) {
	ctx := context.Background()
	errUpcast := errors.New("cents are gone")
	tests := []struct {
		name string
		up   schema.Upcaster
	}{
		{"upcaster fails", func(json.RawMessage) (json.RawMessage, error) { return nil, errUpcast }},
		{"upcaster output invalid", func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{"amount":0}`), nil }},
		{"upcaster output not JSON", func(json.RawMessage) (json.RawMessage, error) { return json.RawMessage(`{"amount":1}]`), nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := schema.MustNewRegistry()
			schema.MustRegister[Opened](reg, "AccountOpened", 1)
			schema.MustRegister[legacyDeposit](reg, "MoneyDeposited", 1)
			schema.MustRegister[Deposited](reg, "MoneyDeposited", 2, schema.UpcastFrom(tt.up))
			store := memory.New()
			defer store.Close()
			repo := mustRepo(t, store, reg, accountType)
			if _, err := repo.Create(ctx, "1", open("ada")); err != nil {
				t.Fatal(err)
			}
			_, err := repo.Update(ctx, "1", func(Account) ([]any, error) {
				return []any{Deposited{Amount: 1}, legacyDeposit{Cents: 500}}, nil
			})
			var ee *aggregate.EventError
			if !errors.As(err, &ee) || ee.Index != 1 || !errors.Is(err, aggregate.ErrUnreadableEvent) ||
				!errors.Is(err, aggregate.ErrInvalidEvent) || !errors.Is(err, schema.ErrUpcast) {
				t.Fatalf("Update = %v, want an EventError for event 1 matching ErrUnreadableEvent and schema.ErrUpcast", err)
			}
			if n := len(testkit.Records(t, store, "account-1")); n != 1 {
				t.Errorf("stream holds %d events after the failed command, want the 1 created", n)
			}
			if _, err := repo.Load(ctx, "1"); err != nil {
				t.Errorf("Load after the failed command: %v", err)
			}
		})
	}
}

// An upcaster chain broken after the repository was made (a newer version
// registered later without an upcaster) is caught before the append too.
func TestUnreadableAfterLateRegistration(t *testing.T) {
	ctx := context.Background()
	reg := schema.MustNewRegistry()
	schema.MustRegister[Opened](reg, "AccountOpened", 1)
	store := memory.New()
	defer store.Close()
	repo := mustRepo(t, store, reg, accountType)
	type openedV2 struct {
		Owner string `json:"owner" jsonschema:"required"`
		Since string `json:"since"`
	}
	schema.MustRegister[openedV2](reg, "AccountOpened", 2)
	_, err := repo.Create(ctx, "1", open("ada"))
	if !errors.Is(err, aggregate.ErrUnreadableEvent) || !errors.Is(err, schema.ErrUpcast) {
		t.Fatalf("Create = %v, want ErrUnreadableEvent (v1 is not decodable)", err)
	}
	if recs := testkit.Records(t, store, "account-1"); recs != nil {
		t.Errorf("the failed command wrote %d events", len(recs))
	}
}

func TestNewRepositoryChecksUpcasterChains(t *testing.T) {
	reg := schema.MustNewRegistry()
	schema.MustRegister[Opened](reg, "AccountOpened", 1)
	schema.MustRegister[legacyDeposit](reg, "MoneyDeposited", 1)
	schema.MustRegister[Deposited](reg, "MoneyDeposited", 2) // no upcaster from v1
	store := memory.New()
	defer store.Close()
	_, err := aggregate.NewRepository(store, reg, accountType)
	if !errors.Is(err, schema.ErrInvalidRegistration) || !strings.Contains(err.Error(), `"MoneyDeposited" v1→v2`) {
		t.Fatalf("NewRepository = %v, want ErrInvalidRegistration naming MoneyDeposited v1→v2", err)
	}
	if err := reg.RegisterUpcaster("MoneyDeposited", 1, schema.Identity); err != nil {
		t.Fatal(err)
	}
	if _, err := aggregate.NewRepository(store, reg, accountType); err != nil {
		t.Fatalf("NewRepository with the chain complete: %v", err)
	}
}
