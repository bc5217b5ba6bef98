package aggregate_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/chronicle-go/chronicle/eventstore"
	"github.com/chronicle-go/chronicle/eventstore/memory"
	"github.com/chronicle-go/chronicle/schema"
)

// legacyDeposit is version 1 of MoneyDeposited, in cents; Deposited is
// version 2.
type legacyDeposit struct {
	Cents int `json:"cents" jsonschema:"required,minimum=1"`
}

func TestLoadDecodesEveryStoredVersion(t *testing.T) {
	ctx := context.Background()
	reg := schema.NewRegistry()
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
